using System.Globalization;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Rng;
using Sim.Machine.Kvm;

namespace Sim.Scenarios;

/// <summary>The guest of "rng": probe, then for each request the hwrng read of <c>bytes</c> bytes (submit + kick),
/// waiting in STI;HLT for random_recv_done, then a line with the length the device filled and the first
/// bytes.</summary>
internal sealed class RngGuest : VirtioGuestProgram<VirtioRngDriver>
{
    /// <summary>Bytes of each answer the guest prints.</summary>
    public const int PrintBytesMax = 16;

    private readonly int _requests;
    private readonly int _bytes;
    private readonly bool _dmesg;
    private readonly PerRequestReport _report;

    public RngGuest(
        int requests,
        int bytes,
        bool dmesg,
        PerRequestReport report,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint> intxGsi
    )
        : base(transport, irq, intxGsi)
    {
        _requests = requests;
        _bytes = bytes;
        _dmesg = dmesg;
        _report = report;
    }

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new VirtioRngDriver(guest, _dmesg ? line => guest.Print("kernel: " + line) : null);
        if (!TryProbe(guest, driver, "ERROR: /dev/hwrng open failed!"))
            yield break;
        yield return VcpuStep.Yield;
        _report.Start(guest.Now);
        byte[] head = new byte[PrintBytesMax];
        for (int i = 0; i < _requests; i++)
        {
            long before = driver.Completed;
            if (!driver.Submit(_bytes))
            {
                guest.Print("ERROR: read failed!");
                break;
            }
            while (driver.Completed == before)
                yield return VcpuStep.Halt;
            int shown = checked((int)Math.Min(driver.LastUsedLen, PrintBytesMax));
            guest.Memory.TryRead(driver.Buffer, head.AsSpan(0, shown));
            guest.Print(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"rng: {driver.LastUsedLen} bytes {Convert.ToHexStringLower(head, 0, shown)}"
                )
            );
            _report.Requests++;
        }
        _report.Stop(guest.Now);
    }
}
