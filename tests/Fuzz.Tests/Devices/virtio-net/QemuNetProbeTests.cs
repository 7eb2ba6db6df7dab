using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Net;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;
using Xunit.Abstractions;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// QEMU 7.2's virtio-net-pci on a UDP socket netdev that stays on 127.0.0.1 (<see cref="QemuNetLink"/>) against our
/// robust <see cref="Sim.Devices.Virtio.Net.VirtioNetDevice"/>, driven the same way through qtest and the model's
/// transport: the frame QEMU transmits and the model's, the used entries (id, len) of both queues, and the bytes a
/// received frame leaves in the buffer. Differences that are QEMU 7.2's are checked against
/// <see cref="NetQemu72Differences"/>. Skips with a message where QEMU is missing.
/// </summary>
public sealed class QemuNetProbeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private bool Skipped()
    {
        if (VirtioBlkQemuTarget.Available is not { } why)
            return false;
        output.WriteLine("SKIPPED: " + why);
        return true;
    }

    private static byte[] Frame(int length)
    {
        var f = new byte[length];
        for (int i = 0; i < length; i++)
            f[i] = (byte)(i < 6 ? 0xFF : 0x30 + i);
        return f;
    }

    [Fact]
    public void Transmit_QemuSendsTheModelsFrame_AndBothReturnTheChainWithLenZero()
    {
        if (Skipped())
            return;
        using var pair = new NetLockstepPair(QemuBinary.Find()!, Wait);
        byte[] frame = Frame(60);
        pair.WriteGuest(NetLockstepPair.TxFrame, frame);
        pair.Post(
            NetSpec.TransmitQueue,
            [
                new(new GuestAddress(NetLockstepPair.TxHeader), NetSpec.HeaderBytes),
                new(new GuestAddress(NetLockstepPair.TxFrame), (uint)frame.Length),
            ],
            []
        );
        pair.Kick(NetSpec.TransmitQueue);
        byte[]? sent = pair.Link.Receive(Wait);
        output.WriteLine($"qemu sent {(sent is null ? "nothing" : Convert.ToHexString(sent))}");
        Assert.Equal(frame, Assert.Single(pair.Model.Device.Backend.Transmitted));
        Assert.Equal(frame, sent);
        Assert.Equal(pair.ModelUsed(NetSpec.TransmitQueue, 0), pair.QemuUsed(NetSpec.TransmitQueue, 0));
        Assert.Equal((0, 0u), pair.ModelUsed(NetSpec.TransmitQueue, 0));
    }

    [Fact]
    public void Receive_InjectedFrame_SameUsedEntryAndBytes_ExceptWhatTheTableExplains()
    {
        if (Skipped())
            return;
        using var pair = new NetLockstepPair(QemuBinary.Find()!, Wait);
        const uint bufferBytes = 2048;
        // The guest's buffer holds 0xAA: a byte the device did not write keeps it.
        pair.WriteGuest(NetLockstepPair.RxBuffer, Enumerable.Repeat((byte)0xAA, (int)bufferBytes).ToArray());
        pair.Post(NetSpec.ReceiveQueue, [], [new(new GuestAddress(NetLockstepPair.RxBuffer), bufferBytes)]);
        pair.Kick(NetSpec.ReceiveQueue);
        byte[] frame = Frame(60);
        pair.Model.Device.Backend.TryInject(frame);
        pair.Model.Device.DeliverPending();
        pair.Link.Inject(frame);
        (int, uint) qemuUsed = pair.QemuUsed(NetSpec.ReceiveQueue, 0);
        Assert.Equal((0, (uint)(NetSpec.HeaderBytes + frame.Length)), pair.ModelUsed(NetSpec.ReceiveQueue, 0));
        Assert.Equal(pair.ModelUsed(NetSpec.ReceiveQueue, 0), qemuUsed);
        int span = NetSpec.HeaderBytes + frame.Length + 16;
        byte[] model = pair.ModelBytes(NetLockstepPair.RxBuffer, span);
        byte[] qemu = pair.QemuBytes(NetLockstepPair.RxBuffer, span);
        output.WriteLine($"model {Convert.ToHexString(model)}");
        output.WriteLine($"qemu  {Convert.ToHexString(qemu)}");
        var differing = Enumerable.Range(0, span).Where(i => model[i] != qemu[i]).ToArray();
        output.WriteLine($"bytes that differ: {string.Join(',', differing)}");
        Assert.All(differing, i => Assert.True(NetQemu72Differences.ExplainsReceivedByte(i), $"buffer byte {i}"));
        // QEMU 7.2 leaves num_buffers as the guest had it (NetQemu72Differences.NumBuffersUnwritten).
        Assert.Equal([0xAA, 0xAA], qemu[NetSpec.HeaderNumBuffersOffset..NetSpec.HeaderBytes]);
        Assert.Equal([1, 0], model[NetSpec.HeaderNumBuffersOffset..NetSpec.HeaderBytes]);
    }

    [Fact]
    public void Receive_ChainTooSmall_BothDropTheFrame_QemuLeavesTheChainAvailable()
    {
        if (Skipped())
            return;
        using var pair = new NetLockstepPair(QemuBinary.Find()!, Wait);
        pair.Post(NetSpec.ReceiveQueue, [], [new(new GuestAddress(NetLockstepPair.RxBuffer), 40)]);
        pair.Kick(NetSpec.ReceiveQueue);
        byte[] frame = Frame(60);
        pair.Model.Device.Backend.TryInject(frame);
        pair.Model.Device.DeliverPending();
        pair.Link.Inject(frame);
        Assert.Equal((0, 0u), pair.ModelUsed(NetSpec.ReceiveQueue, 0));
        Assert.Equal(1, pair.Model.Device.ReceiveDropped);
        // Row NetQemu72Differences.SmallChainLeftAvailable: QEMU's used.idx stays 0 (bounded wait).
        Assert.Equal((-1, 0u), pair.QemuUsed(NetSpec.ReceiveQueue, 0));
        // QEMU wrote what fit before giving the chain back: the 10-byte header, 2 bytes left as they were, the frame.
        byte[] qemu = pair.QemuBytes(NetLockstepPair.RxBuffer, 40);
        Assert.Equal(frame[..28], qemu[NetSpec.HeaderBytes..]);
        Assert.Equal(new byte[40], pair.ModelBytes(NetLockstepPair.RxBuffer, 40)); // the model wrote nothing
    }

    /// <summary>A transmit chain holding only the header: after the header is stripped the frame is empty. QEMU 7.2.0
    /// sent it and took the 0 its send returned for "queued" (QEMU issue 1451); upstream 2c3e4e2de699 ("virtio-net:
    /// drop too short packets early", QEMU 9.1, stable 7.2.13) breaks the device instead, and Debian's 7.2.22
    /// carries it: both halves break with "virtio-net nothing to send" and the next chain is not served. (Read
    /// earlier as "QEMU wedges transmitq1": the device was broken, not wedged.)</summary>
    [Fact]
    public void Transmit_HeaderOnly_BothNeedReset_NothingToSend()
    {
        if (Skipped())
            return;
        using var pair = new NetLockstepPair(QemuBinary.Find()!, Wait);
        pair.Post(NetSpec.TransmitQueue, [new(new GuestAddress(NetLockstepPair.TxHeader), NetSpec.HeaderBytes)], []);
        pair.Kick(NetSpec.TransmitQueue);
        Assert.Equal("virtio-net nothing to send", pair.Model.Device.BrokenReason);
        // Debian's 7.2.22 carries upstream 2c3e4e2de699 ("virtio-net: drop too short packets early", stable 7.2.13):
        // QEMU breaks the device with the model's message; the earlier reading "QEMU wedges transmitq1" was this.
        Assert.True(pair.Qemu.Qmp.Broken(QemuCommandLine.NetVirtioBackendPath));
        Assert.Contains("virtio-net nothing to send", pair.Qemu.LastStderrLine(TimeSpan.FromSeconds(2)) ?? "");
        byte[] frame = Frame(60);
        pair.WriteGuest(NetLockstepPair.TxFrame, frame);
        pair.Post(
            NetSpec.TransmitQueue,
            [
                new(new GuestAddress(NetLockstepPair.TxHeader), NetSpec.HeaderBytes),
                new(new GuestAddress(NetLockstepPair.TxFrame), (uint)frame.Length),
            ],
            []
        );
        pair.Kick(NetSpec.TransmitQueue);
        Assert.Equal((-1, 0u), pair.QemuUsed(NetSpec.TransmitQueue, 0));
        var sent = new List<byte[]>();
        while (sent.Count < 4 && pair.Link.Receive(TimeSpan.FromMilliseconds(300)) is { } d)
            sent.Add(d);
        output.WriteLine($"qemu sent {sent.Count} datagrams: {string.Join(", ", sent.Select(d => d.Length))} bytes");
        Assert.DoesNotContain(sent, d => d.AsSpan().SequenceEqual(frame));
        Assert.Equal(0, pair.Model.Device.Backend.FramesSent);
    }
}
