using System.Globalization;
using Sim.Engine.Kvm;
using Sim.Engine.Memory;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Factorial;

namespace Sim.Guest.Scenarios;

/// <summary>The guest of "factorial": virttest_probe, then for each argument the user program's
/// write(fd, &amp;n, 4) (submit + kick, returning at once), waiting in STI;HLT until the callback has reaped
/// the response (the seed's single req/res pair must not be reused earlier), then <c>n! = ret</c>.</summary>
internal sealed class FactorialGuest : GuestProgram
{
    public const ulong DmaBase = 0x10_0000;

    public const ulong DmaBytes = 0x10_0000;

    private readonly uint[] _args;
    private readonly int _requests;
    private readonly bool _dmesg;
    private readonly PerRequestReport _report;
    private readonly VirtioDriverTransport _transport;
    private readonly VirtioInterruptMode _irq;
    private readonly Func<int, int, uint> _intxGsi;
    private VirtioFactorialDriver? _driver;

    public FactorialGuest(uint[] args, int requests, bool dmesg, PerRequestReport report, VirtioDriverTransport transport, VirtioInterruptMode irq, Func<int, int, uint> intxGsi)
    {
        _args = args;
        _requests = requests;
        _dmesg = dmesg;
        _report = report;
        _transport = transport;
        _irq = irq;
        _intxGsi = intxGsi;
    }

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new VirtioFactorialDriver(guest, _dmesg ? line => guest.Print("kernel: " + line) : null);
        var dma = new GuestDmaAllocator(new GuestAddress(DmaBase), DmaBytes);
        if (!driver.Probe(new PciResourceWindows(), dma, _transport, _irq, _intxGsi))
        {
            guest.Print("ERROR: virtio_misc open failed!");
            yield break;
        }
        _driver = driver;
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
            while (driver.Completed == before) yield return VcpuStep.Halt;
            guest.Print(string.Create(CultureInfo.InvariantCulture, $"{n}! = {driver.LastRet}"));
            _report.Requests++;
        }
        _report.Stop(guest.Now);
    }

    public override void OnInterrupt(GuestContext guest, uint gsi)
    {
        _driver?.HandleInterrupt(gsi);
        guest.Eoi(gsi);
    }
}
