using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using Sim.Devices.Tests.Drivers;
using Sim.Devices.Virtio.Factorial;
using Sim.Devices.Virtio.Queue;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Factorial;

public sealed class VirtioFactorialDeviceTests
{
    private static readonly GuestAddress Req = VirtioDeviceRig.Buf(0);
    private static readonly GuestAddress Resp = VirtioDeviceRig.Buf(0x100);

    private static (VirtioDeviceRig Rig, VirtioFactorialDevice Dev) Make(Flavour flavour)
    {
        var dev = new VirtioFactorialDevice(flavour);
        var rig = new VirtioDeviceRig(dev);
        rig.Init(features: 1UL << VirtioFactorialDevice.FeatureCanPrint);
        return (rig, dev);
    }

    private static byte[] Request(uint arg1, string arg2 = "hello back end!")
    {
        var r = new byte[VirtioFactorialDevice.RequestSize];
        BinaryPrimitives.WriteUInt32LittleEndian(r, arg1);
        Encoding.ASCII.GetBytes(arg2, r.AsSpan(4));
        return r;
    }

    private static (uint Len, uint Ret) Submit(
        VirtioDeviceRig rig,
        uint arg1,
        int outLen = VirtioFactorialDevice.RequestSize,
        int inLen = 4
    )
    {
        rig.Fill(Req, Request(arg1));
        rig.Fill(Resp, [0xAA, 0xAA, 0xAA, 0xAA]);
        GuestBuffer[] inSg = inLen > 0 ? [new GuestBuffer(Resp, (uint)inLen)] : [];
        rig.PostAndKick([new GuestBuffer(Req, (uint)outLen)], inSg);
        Assert.True(rig.TryUsed(out _, out uint len));
        return (len, BinaryPrimitives.ReadUInt32LittleEndian(rig.ReadBytes(Resp, 4)));
    }

    [Fact]
    public void Factorial_MatchesBigIntegerModulo2To32_For0To40()
    {
        BigInteger f = BigInteger.One;
        for (uint n = 0; n <= 40; n++)
        {
            if (n > 0)
                f *= n;
            Assert.Equal((uint)(f % (BigInteger.One << 32)), VirtioFactorialDevice.Factorial(n));
        }
        Assert.Equal(0u, VirtioFactorialDevice.Factorial(VirtioFactorialDevice.FactorialZeroFrom));
        Assert.NotEqual(0u, VirtioFactorialDevice.Factorial(VirtioFactorialDevice.FactorialZeroFrom - 1));
        Assert.Equal(0u, VirtioFactorialDevice.Factorial(uint.MaxValue - 1));
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void Request_WritesFactorial_Len4(Flavour flavour)
    {
        var (rig, dev) = Make(flavour);
        Assert.Equal((4u, 120u), Submit(rig, 5));
        Assert.Equal((4u, 1u), Submit(rig, 0));
        Assert.Equal((4u, 1932053504u), Submit(rig, 13));
        Assert.Equal(3, dev.Requests);
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void SplitBuffers_AcrossDescriptors(Flavour flavour)
    {
        var (rig, _) = Make(flavour);
        rig.Fill(Req, Request(6));
        rig.PostAndKick(
            [
                new GuestBuffer(Req, 4),
                new GuestBuffer(new GuestAddress(Req.Value + 4), 16),
                new GuestBuffer(new GuestAddress(Req.Value + 20), 16),
            ],
            [new GuestBuffer(Resp, 2), new GuestBuffer(new GuestAddress(Resp.Value + 2), 2)]
        );
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(4u, len);
        Assert.Equal(720u, BinaryPrimitives.ReadUInt32LittleEndian(rig.ReadBytes(Resp, 4)));
    }

    [Fact]
    public void Robust_ShortOut_Len0_NoWrite()
    {
        var (rig, dev) = Make(Flavour.Robust);
        Assert.Equal((0u, 0xAAAAAAAAu), Submit(rig, 5, outLen: 4));
        Assert.Equal(1, dev.ShortRequests);
    }

    [Fact]
    public void Robust_ShortIn_Len0_NoWrite()
    {
        var (rig, _) = Make(Flavour.Robust);
        Assert.Equal((0u, 0xAAAAAAAAu), Submit(rig, 5, inLen: 2));
    }

    [Fact]
    public void Robust_ArgMax_IsZero_NotAHang()
    {
        var (rig, dev) = Make(Flavour.Robust);
        Assert.Equal((4u, 0u), Submit(rig, uint.MaxValue));
        Assert.False(dev.Hung);
    }

    [Fact]
    public void Seed_ShortOut_UsesStaleRequestBytes()
    {
        var (rig, dev) = Make(Flavour.Seed);
        Assert.Equal((4u, 0u), Submit(rig, 0x100)); // 256! ≡ 0; leaves bytes 00 01 00 00 in req
        // One readable byte (0x03): arg1 = 0x0103 from the stale bytes, not 3.
        rig.Fill(Req, [0x03]);
        rig.PostAndKick([new GuestBuffer(Req, 1)], [new GuestBuffer(Resp, 4)]);
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(4u, len);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(rig.ReadBytes(Resp, 4)));
        Assert.Contains("QEMU: >>> get arg1 [ 259 ] form the front end <<<", dev.Log.Lines);
    }

    [Fact]
    public void Seed_NoReadableBytes_DetachesElement_NeverReturned()
    {
        var (rig, dev) = Make(Flavour.Seed);
        rig.Fill(Resp, [0xAA, 0xAA, 0xAA, 0xAA]);
        rig.PostAndKick([], [new GuestBuffer(Resp, 4)]);
        Assert.False(rig.TryUsed(out _, out _));
        Assert.Equal(1, dev.Detached);
        Assert.Equal(0, dev.GetQueue(0).InUse);
        Assert.Contains("QEMU ERROR: iov_to_buf function failed.", dev.Log.Lines);
        Assert.Equal(1, rig.Queue.Outstanding); // the driver's buffer leaked
    }

    [Fact]
    public void Robust_NoReadableBytes_CompletesWithLen0()
    {
        var (rig, dev) = Make(Flavour.Robust);
        rig.PostAndKick([], [new GuestBuffer(Resp, 4)]);
        Assert.True(rig.TryUsed(out _, out uint len));
        Assert.Equal(0u, len);
        Assert.Equal(0, dev.Detached);
    }

    [Fact]
    public void Seed_ShortIn_PartialWrite_StillLen4()
    {
        var (rig, _) = Make(Flavour.Seed);
        Assert.Equal((4u, 0xAAAA0078u), Submit(rig, 5, inLen: 2));
    }

    [Fact]
    public void Seed_NoInBuffer_PushesLen4()
    {
        var (rig, dev) = Make(Flavour.Seed);
        Assert.Equal((4u, 0xAAAAAAAAu), Submit(rig, 5, inLen: 0));
        Assert.Equal(1, dev.Requests);
    }

    [Fact]
    public void Seed_ArgMax_Hangs_ForeverAfter()
    {
        var (rig, dev) = Make(Flavour.Seed);
        rig.Fill(Req, Request(uint.MaxValue));
        rig.PostAndKick([new GuestBuffer(Req, VirtioFactorialDevice.RequestSize)], [new GuestBuffer(Resp, 4)]);
        Assert.True(dev.Hung);
        Assert.False(rig.TryUsed(out _, out _));
        rig.Fill(VirtioDeviceRig.Buf(0x200), Request(5));
        rig.PostAndKick(
            [new GuestBuffer(VirtioDeviceRig.Buf(0x200), VirtioFactorialDevice.RequestSize)],
            [new GuestBuffer(Resp, 4)]
        );
        Assert.False(rig.TryUsed(out _, out _));
        Assert.Equal(0, dev.Requests);
    }

    [Fact]
    public void Seed_UnterminatedArg2_IsMarkedInLog()
    {
        var (rig, dev) = Make(Flavour.Seed);
        rig.Fill(Req, Request(3, new string('x', 32)));
        rig.PostAndKick([new GuestBuffer(Req, VirtioFactorialDevice.RequestSize)], [new GuestBuffer(Resp, 4)]);
        Assert.Contains(dev.Log.Lines, l => l.Contains("<no NUL", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(Flavour.Robust)]
    [InlineData(Flavour.Seed)]
    public void BadRing_LoopedChain_BreaksDevice(Flavour flavour)
    {
        var (rig, dev) = Make(flavour);
        // Descriptor 0 → 0 with NEXT: a loop.
        var layout = rig.Queue.Layout;
        var desc = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(desc, Req.Value);
        BinaryPrimitives.WriteUInt32LittleEndian(desc.AsSpan(8), 36);
        BinaryPrimitives.WriteUInt16LittleEndian(desc.AsSpan(12), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(desc.AsSpan(14), 0);
        rig.Fill(layout.Desc(0), desc);
        Assert.True(rig.Memory.TryWriteUInt16(layout.AvailEntry(0), 0));
        Assert.True(rig.Memory.TryWriteUInt16(layout.AvailIdx, 1));
        rig.Kick();
        Assert.True(dev.IsBroken);
        Assert.Equal(nameof(QueueError.LoopedChain), dev.BrokenReason);
    }

    [Fact]
    public void Config_ActualAndEvent_RoundTrip()
    {
        var (rig, dev) = Make(Flavour.Robust);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 0x1234);
        rig.Sim.Kvm.Mmio.Write(
            VirtioDeviceRig.ModernBase
                + Sim.Spec.Virtio.VirtioPciLayout.ModernDeviceOffset
                + VirtioFactorialDevice.ConfigActualOffset,
            b
        );
        Assert.Equal(0x1234u, dev.Actual);
        b.Clear();
        rig.Sim.Kvm.Mmio.Read(
            VirtioDeviceRig.ModernBase
                + Sim.Spec.Virtio.VirtioPciLayout.ModernDeviceOffset
                + VirtioFactorialDevice.ConfigActualOffset,
            b
        );
        Assert.Equal(0x1234u, BinaryPrimitives.ReadUInt32LittleEndian(b));
    }
}
