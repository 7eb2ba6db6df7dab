using Sim.Devices;
using Sim.Devices.Virtio.Counter;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary><c>liveness/kicked-chain-not-consumed</c> (<see cref="KickedChainsOracle"/>): a device that serves the
/// whole ring at a kick must have consumed what the guest's last kick announced, judged before the liveness oracle's
/// own final kick (issue 12 device sample: the counter's pop loop started at 1 and survived 60 s, rescued by that
/// kick).</summary>
public sealed class KickedChainsOracleTests
{
    private const ulong Desc = 0x0;
    private const ulong Avail = 0x100;
    private const ulong Used = 0x200;

    private static (VirtioCounterDevice, Simulation) InitializedCounter()
    {
        Simulation sim = RingSimulation.Create(10_000);
        var device = new VirtioCounterDevice(sim, new CounterDeviceOptions { Flavour = Flavour.Robust });
        var rig = new QemuBackendRig(sim, device);
        rig.Initialize(eventIdx: false, indirect: false, size: 8, Desc, Avail, Used);
        return (device, sim);
    }

    /// <summary>VIRTIO 1.2 §2.7.13.3 (the notification tells the device there are buffers); QEMU
    /// virtio_test_handle_output pops until the ring is empty. A chain made available and announced by a kick that the
    /// device never popped fires; the same state without a remembered kick, or after the guest moved avail.idx again
    /// (the final kick is then owed), is not judged.</summary>
    [Fact]
    public void Virtio12_2_7_13_3_AnnouncedChainLeftAvailable_Fires_UnlessTheGuestPublishedSince()
    {
        (VirtioCounterDevice device, Simulation sim) = InitializedCounter();
        Assert.True(device.DriverOk);
        sim.Memory.TryWriteUInt16(new GuestAddress(Avail + 2), 1); // one entry available, the device never ran
        var oracle = new KickedChainsOracle();
        var context = new FuzzContext();
        oracle.Begin("virtio-counter", Flavour.Robust);
        oracle.Judge(device, sim.Memory, context); // no kick remembered
        Assert.Null(context.Finding);
        oracle.Kicked(device, sim.Memory, 0, watched: true);
        sim.Memory.TryWriteUInt16(new GuestAddress(Avail + 2), 2); // published since the kick: the final kick is owed
        oracle.Judge(device, sim.Memory, context);
        Assert.Null(context.Finding);
        oracle.Kicked(device, sim.Memory, 0, watched: true);
        oracle.Judge(device, sim.Memory, context);
        Assert.Equal("liveness/kicked-chain-not-consumed", context.Finding?.Site);
    }

    /// <summary>QEMU virtio_test_handle_output: the robust counter pops a whole ring of 128 at one kick (<see
    /// cref="RingSeeds.CounterFullRingOneKick"/>), so the judged seed runs clean.</summary>
    [Fact]
    public void QemuVirtioTestHandleOutput_CounterFullRing_OneKick_ServesAll()
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create("virtio-counter-qemu-robust")!;
        var context = new FuzzContext();
        target.Execute(RingSeeds.CounterFullRingOneKick(), context);
        Assert.Null(context.Finding);
        Assert.Equal(1, target.KickedChainsJudged);
    }

    /// <summary>QEMU virtio_net_flush_tx / virtio_net_tx_bh: the robust net model sends a whole transmitq1 of 256 at
    /// one kick (<see cref="Virtsim.Fuzz.Qemu.NetSeeds.TransmitFullRingOneKick"/>), so the judged seed runs
    /// clean.</summary>
    [Fact]
    public void QemuVirtioNetFlushTx_FullTransmitRing_OneKick_SendsAll()
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create("virtio-net-qemu-robust")!;
        var context = new FuzzContext();
        target.Execute(Virtsim.Fuzz.Qemu.NetSeeds.TransmitFullRingOneKick(), context);
        Assert.Null(context.Finding);
        Assert.Equal(1, target.KickedChainsJudged);
    }
}
