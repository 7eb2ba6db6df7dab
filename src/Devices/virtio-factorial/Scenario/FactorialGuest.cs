using System.Globalization;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Factorial;
using Sim.Machine.Kvm;

namespace Sim.Scenarios;

/// <summary>The guest of "factorial": virttest_probe, then for each argument the user program's
/// write(fd, &amp;n, 4) (submit + kick, returning at once), waiting in STI;HLT until the callback has reaped
/// the response (the seed's single req/res pair must not be reused earlier), then <c>n! = ret</c>.</summary>
internal sealed class FactorialGuest : VirtioGuestProgram<VirtioFactorialDriver>
{
    private readonly uint[] _args;
    private readonly int _requests;
    private readonly bool _dmesg;
    private readonly PerRequestReport _report;

    public FactorialGuest(
        uint[] args,
        int requests,
        bool dmesg,
        PerRequestReport report,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint> intxGsi
    )
        : base(transport, irq, intxGsi)
    {
        _args = args;
        _requests = requests;
        _dmesg = dmesg;
        _report = report;
    }

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new VirtioFactorialDriver(guest, _dmesg ? line => guest.Print("kernel: " + line) : null);
        if (!TryProbe(guest, driver, "ERROR: virtio_misc open failed!"))
            yield break;
        yield return VcpuStep.Yield;
        _report.Start(guest.Now);
        for (int i = 0; i < _requests; i++)
        {
            uint n = _args[i % _args.Length];
            long before = driver.Completed;
            if (!driver.Submit(n))
            {
                guest.Print("ERROR: write failed!");
                break;
            }
            while (driver.Completed == before)
                yield return VcpuStep.Halt;
            guest.Print(string.Create(CultureInfo.InvariantCulture, $"{n}! = {driver.LastRet}"));
            _report.Requests++;
        }
        _report.Stop(guest.Now);
    }
}
