using Sim.Devices;
using Sim.Devices.Virtio.Rng;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Random;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary><c>status/broke-before-driver-ok</c> (<see cref="FeatureOracle"/>): a device_status write that leaves
/// DRIVER_OK clear, made while it was clear, breaks no device (issue 12 device sample: the rng's status walk turned to
/// test ACKNOWLEDGE as well as DRIVER_OK survived 60 s, since no oracle read the status back for
/// NEEDS_RESET).</summary>
public sealed class StatusWriteOracleTests
{
    private const VirtioStatus Ready = VirtioStatus.Driver | VirtioStatus.FeaturesOk; // 0x0a
    private const VirtioStatus AckReady = Ready | VirtioStatus.Acknowledge; // 0x0b

    private static (FeatureOracle, FuzzContext) Rng()
    {
        var context = new FuzzContext();
        var oracle = new FeatureOracle();
        oracle.Begin(new VirtioRngDevice(new Prng(1)), Flavour.Robust, context);
        return (oracle, context);
    }

    /// <summary>VIRTIO 1.2 §3.1.2 (no buffers consumed before DRIVER_OK); QEMU virtio_rng_set_status →
    /// virtio_rng_process returns unless is_guest_ready (the queue ready and DRIVER_OK).</summary>
    [Fact]
    public void Virtio12_3_1_2_NeedsResetOnAWriteBeforeDriverOk_Fires()
    {
        (FeatureOracle oracle, FuzzContext context) = Rng();
        oracle.JudgeStatusWrite(Ready, (byte)AckReady, AckReady | VirtioStatus.DeviceNeedsReset);
        Assert.Equal("status/broke-before-driver-ok", context.Finding?.Site);
    }

    /// <summary>Not judged: the write that clears DRIVER_OK (QEMU virtio_pci_common_write stops the ioeventfds and
    /// their drain runs a pending kick's handler, which may break the device), a write that sets DRIVER_OK (the rng
    /// walks then), a reset (0), and a device already broken.</summary>
    [Fact]
    public void QemuVirtioPciCommonWrite_ClearingOrSettingDriverOk_Reset_AlreadyBroken_AreNotJudged()
    {
        (FeatureOracle oracle, FuzzContext context) = Rng();
        VirtioStatus ok = AckReady | VirtioStatus.DriverOk;
        oracle.JudgeStatusWrite(ok, (byte)AckReady, AckReady | VirtioStatus.DeviceNeedsReset);
        oracle.JudgeStatusWrite(AckReady, (byte)ok, ok | VirtioStatus.DeviceNeedsReset);
        oracle.JudgeStatusWrite(
            AckReady | VirtioStatus.DeviceNeedsReset,
            (byte)Ready,
            Ready | VirtioStatus.DeviceNeedsReset
        );
        oracle.JudgeStatusWrite(AckReady, 0, VirtioStatus.DeviceNeedsReset);
        Assert.Null(context.Finding);
    }

    /// <summary>The rng seed (<see cref="RingSeeds.RngStatusWritesBeforeDriverOk"/>: a loop made available, then
    /// status 0x0a and 0x0b) runs clean on the robust rng: it walks nothing before DRIVER_OK.</summary>
    [Fact]
    public void QemuVirtioRngSetStatus_LoopAvailable_StatusWritesBeforeDriverOk_BreakNothing()
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create("virtio-rng-qemu-robust")!;
        var context = new FuzzContext();
        target.Execute(RingSeeds.RngStatusWritesBeforeDriverOk(), context);
        Assert.Null(context.Finding);
        Assert.True(target.HandshakesJudged > 0);
    }
}
