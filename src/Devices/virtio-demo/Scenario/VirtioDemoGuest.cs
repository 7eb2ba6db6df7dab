using System.Globalization;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Demo;
using Sim.Machine.Kvm;

namespace Sim.Scenarios;

/// <summary>The guest of "virtio-demo": virtdemo_probe, then the test program of lab 1 run through
/// /dev/virtio_demo (write = send_kick(1, val), read = send_kick(0, 0) then val).</summary>
internal sealed class VirtioDemoGuest : VirtioGuestProgram<VirtioDemoDriver>
{
    private static readonly uint[] Values = [0x1333, 0x2333, 0x3333];

    private readonly int _rounds;
    private readonly bool _dmesg;
    private readonly PerRequestReport _report;

    public VirtioDemoGuest(
        int rounds,
        bool dmesg,
        PerRequestReport report,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint> intxGsi
    )
        : base(transport, irq, intxGsi)
    {
        _rounds = rounds;
        _dmesg = dmesg;
        _report = report;
    }

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new VirtioDemoDriver(guest, _dmesg ? line => guest.Print("kernel: " + line) : null);
        if (!TryProbe(guest, driver, "open /dev/virtio_demo error."))
            yield break;
        yield return VcpuStep.Yield;
        guest.Print("open /dev/virtio_demo success..");
        _report.Start(guest.Now);
        for (int round = 0; round < _rounds; round++)
        {
            int step = 0;
            foreach (uint value in Values)
            {
                foreach (VcpuStep s in driver.Write(value))
                    yield return s;
                guest.Print(string.Create(CultureInfo.InvariantCulture, $"{step++}. write {value:x}"));
                foreach (VcpuStep s in driver.Read())
                    yield return s;
                guest.Print(string.Create(CultureInfo.InvariantCulture, $"{step++}. read = {driver.Val:x}"));
                _report.Requests += 2;
            }
        }
        _report.Stop(guest.Now);
    }
}
