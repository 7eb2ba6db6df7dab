using System.Buffers.Binary;
using Sim.Devices.Tests.Drivers;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Rng;
using Sim.Engine.Memory;
using Sim.Engine.Random;
using Sim.Guest.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Rng;

/// <summary>
/// The robust rng device walks every available chain before popping, as QEMU's virtio_rng_process →
/// get_request_size → virtqueue_get_avail_bytes does (hw/virtio/virtio-rng.c, hw/virtio/virtio.c, QEMU 7.2), so it
/// breaks where QEMU does even when each chain alone would pop cleanly (triaged differences of issue 15).
/// </summary>
public sealed class VirtioRngAvailWalkTests
{
    private const int QueueSize = 2;

    private static VirtioDeviceRig Rig(Flavour flavour, out VirtioRngDevice device)
    {
        device = new VirtioRngDevice(new Prng(1), flavour);
        var rig = new VirtioDeviceRig(device);
        rig.Init(size: QueueSize);
        return rig;
    }

    /// <summary>A two-descriptor chain listed twice in the available ring: four descriptors in a two-entry queue.
    /// QEMU's walk counts descriptors over all direct chains (total_bufs) and stops with "Looped descriptor" before
    /// any entropy is requested.</summary>
    [Fact]
    public void Robust_ChainListedTwice_BreaksWithLoopedDescriptor_BeforeAnyFill()
    {
        VirtioDeviceRig rig = Rig(Flavour.Robust, out VirtioRngDevice device);
        GuestBuffer[] two = [new GuestBuffer(VirtioDeviceRig.Buf(0), 8), new GuestBuffer(VirtioDeviceRig.Buf(8), 8)];
        Assert.True(rig.Queue.TryAdd(rig.Memory, [], two, out ushort head));
        WriteAvail(rig, slot: 0, head, idx: 0);
        WriteAvail(rig, slot: 1, head, idx: 2);
        rig.Kick();
        Assert.True(device.IsBroken);
        Assert.Equal(nameof(QueueError.LoopedChain), device.BrokenReason);
        Assert.Equal(0, device.Requests);
        Assert.False(rig.TryUsed(out _, out _));
    }

    /// <summary>The seed flavour (the device as the seeds write theirs) pops without the walk and serves the chain
    /// twice: the walk is the robust flavour's.</summary>
    [Fact]
    public void Seed_ChainListedTwice_ServedTwice()
    {
        VirtioDeviceRig rig = Rig(Flavour.Seed, out VirtioRngDevice device);
        GuestBuffer[] two = [new GuestBuffer(VirtioDeviceRig.Buf(0), 8), new GuestBuffer(VirtioDeviceRig.Buf(8), 8)];
        Assert.True(rig.Queue.TryAdd(rig.Memory, [], two, out ushort head));
        WriteAvail(rig, slot: 0, head, idx: 0);
        WriteAvail(rig, slot: 1, head, idx: 2);
        rig.Kick();
        Assert.False(device.IsBroken);
        Assert.Equal(2, device.Requests);
    }

    /// <summary>Two sound chains of one descriptor each fill two entries of a two-entry queue: the cumulative count
    /// reaches the size but does not pass it, so the walk lets them through.</summary>
    [Fact]
    public void Robust_TwoChainsFillingTheQueue_AreServed()
    {
        VirtioDeviceRig rig = Rig(Flavour.Robust, out VirtioRngDevice device);
        Assert.True(rig.Queue.TryAdd(rig.Memory, [], [new GuestBuffer(VirtioDeviceRig.Buf(0), 8)], out _));
        Assert.True(rig.Queue.TryAdd(rig.Memory, [], [new GuestBuffer(VirtioDeviceRig.Buf(8), 8)], out _));
        rig.Queue.Publish(rig.Memory);
        rig.Kick();
        Assert.False(device.IsBroken);
        Assert.Equal(2, device.Requests);
    }

    /// <summary>avail.idx moved back below what the device consumed: QEMU's walk at the next kick finds it more than a
    /// queue ahead ("Guest moved used index from 1 to 0").</summary>
    [Fact]
    public void Robust_AvailIdxMovedBack_Breaks()
    {
        VirtioDeviceRig rig = Rig(Flavour.Robust, out VirtioRngDevice device);
        rig.PostAndKick([], [new GuestBuffer(VirtioDeviceRig.Buf(0), 8)]);
        Assert.Equal(1, device.Requests);
        WriteAvail(rig, slot: 0, 0, idx: 0);
        rig.Kick();
        Assert.True(device.IsBroken);
        Assert.Equal(nameof(QueueError.AvailIndexTooFar), device.BrokenReason);
    }

    /// <summary>Writes avail.ring[<paramref name="slot"/>] and avail.idx (the driver's layout: flags, idx,
    /// ring).</summary>
    private static void WriteAvail(VirtioDeviceRig rig, int slot, ushort head, ushort idx)
    {
        ulong avail = SplitRingLayout.Modern(new GuestAddress(VirtioDeviceRig.RingBase), QueueSize).AvailRing.Value;
        byte[] b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, head);
        rig.Fill(new GuestAddress(avail + 4 + (2 * (ulong)slot)), b);
        BinaryPrimitives.WriteUInt16LittleEndian(b, idx);
        rig.Fill(new GuestAddress(avail + 2), b);
    }
}
