using System.Buffers.Binary;
using System.Globalization;
using Sim.Engine;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Net;
using Sim.Machine.Kvm;
using Sim.Spec.Net;

namespace Sim.Scenarios;

/// <summary>The guest of "net": probe, then for each frame a broadcast Ethernet frame of <c>bytes</c> bytes from
/// the device's MAC (ethertype 0x88b5, IEEE 802 local experimental) whose payload counts from the frame's number,
/// sent on transmitq1; the guest waits in STI;HLT for the echo on receiveq1 and prints one line with the lengths,
/// the first bytes received and whether the echo matched what was sent.</summary>
internal sealed class NetGuest : VirtioGuestProgram<VirtioNetDriver>
{
    /// <summary>Bytes of each received frame the guest prints.</summary>
    public const int PrintBytesMax = 16;

    /// <summary>Ethertype of the frames sent (IEEE 802 local experimental ethertype 1).</summary>
    public const ushort EtherType = 0x88B5;

    private readonly int _frames;
    private readonly int _bytes;
    private readonly bool _dmesg;
    private readonly PerRequestReport _report;

    public NetGuest(
        int frames,
        int bytes,
        bool dmesg,
        PerRequestReport report,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint> intxGsi
    )
        : base(transport, irq, intxGsi)
    {
        _frames = frames;
        _bytes = bytes;
        _dmesg = dmesg;
        _report = report;
    }

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new VirtioNetDriver(guest, _dmesg ? line => guest.Print("kernel: " + line) : null);
        if (!TryProbe(guest, driver, "ERROR: eth0 not found!"))
            yield break;
        yield return VcpuStep.Yield;
        _report.Start(guest.Now);
        byte[] frame = new byte[_bytes];
        for (int i = 0; i < _frames; i++)
        {
            Build(frame, driver.Mac, i);
            long before = driver.Received;
            if (!driver.Send(frame))
            {
                guest.Print("ERROR: send failed!");
                break;
            }
            while (driver.Received == before)
                yield return VcpuStep.Halt;
            byte[] echo = driver.LastFrame;
            string head = Convert.ToHexStringLower(echo, 0, Math.Min(echo.Length, PrintBytesMax));
            string match = echo.AsSpan().SequenceEqual(frame) ? "ok" : "MISMATCH";
            guest.Print(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"net: tx {frame.Length} bytes, rx {echo.Length} bytes {head} echo={match}"
                )
            );
            _report.Requests++;
        }
        _report.Stop(guest.Now);
    }

    /// <summary>Destination broadcast, source <paramref name="mac"/>, <see cref="EtherType"/>, then a payload
    /// counting up from <paramref name="number"/>.</summary>
    private static void Build(Span<byte> frame, ReadOnlySpan<byte> mac, int number)
    {
        frame[..NetSpec.MacBytes].Fill(0xFF);
        mac.CopyTo(frame[NetSpec.MacBytes..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(2 * NetSpec.MacBytes)..], EtherType);
        for (int k = NetSpec.EthernetHeaderBytes; k < frame.Length; k++)
            frame[k] = Narrow.LowByte(number + k);
    }
}
