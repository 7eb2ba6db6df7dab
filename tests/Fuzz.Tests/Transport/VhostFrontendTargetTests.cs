using Sim.Devices;
using Sim.Devices.Vhost.Frontend;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Virtsim.Fuzz.Tests.Transport;

/// <summary>
/// <c>virtio-pci-vhost-robust</c>: the virtio-pci target with the vhost-demo frontend behind the transport, so the
/// register fuzzer drives vhost_dev_start / vhost_dev_stop (issue 12: the frontend was no fuzz target, so its mutants
/// survived unreached).
/// </summary>
public sealed class VhostFrontendTargetTests
{
    private static byte[] Input(byte header, params byte[][] ops) => [header, .. ops.SelectMany(o => o)];

    private static byte[] Op(int code, byte a, ushort reg, ulong value) => VirtioPciInput.Encode(code, a, reg, value);

    [Fact]
    public void Registry_HasTheFrontendTarget_UnderTheVirtioPciName()
    {
        IFuzzTarget? t = FuzzTargets.Create(VirtioPciTarget.VhostFrontendTargetName);
        Assert.NotNull(t);
        Assert.True(((VirtioPciTarget)t).VhostFrontend);
        Assert.False(((VirtioPciTarget)FuzzTargets.Create("virtio-pci-qemu-robust")!).VhostFrontend);
    }

    [Fact]
    public void RobustFrontend_RunsTheSeedsClean()
    {
        var target = new VirtioPciTarget(Flavour.Robust, vhostFrontend: true);
        foreach (byte[] seed in target.SeedCorpus())
        {
            var context = new FuzzContext();
            target.Execute(seed, context);
            Assert.Null(context.Finding);
        }
    }

    /// <summary>A modern driver (ioeventfd on) starts vhost on DRIVER_OK; requests are answered by the backend, so
    /// liveness (which reads the backend's last_avail_idx while vhost runs) passes; a reset stops vhost and a second
    /// initialisation starts it again.</summary>
    [Fact]
    public void RobustFrontend_StartServeResetRestart_IsClean()
    {
        byte[] post = Op(VirtioPciInput.OpPost, 1 | 2, 0, 0x1234_5678_0000_0001);
        byte[] run = Op(VirtioPciInput.OpRun, 1, 0, 0);
        byte[] input = Input(
            0,
            Op(VirtioPciInput.OpModernInit, 0, 4, ulong.MaxValue),
            post,
            run,
            post,
            run,
            Op(VirtioPciInput.OpReset, 0, 0, 0),
            Op(VirtioPciInput.OpModernInit, 0, 3, ulong.MaxValue),
            post,
            run
        );
        var context = new FuzzContext();
        var target = new VirtioPciTarget(Flavour.Robust, vhostFrontend: true);
        target.Execute(input, context);
        Assert.Null(context.Finding);
        var frontend = Assert.IsType<VhostDemoFrontendDevice>(target.LastDevice);
        Assert.Equal(2, frontend.Starts);
        Assert.True(frontend.Backend.Requests >= 3, $"backend answered {frontend.Backend.Requests}");
    }

    /// <summary>Found by the first instrumented campaign (29 bytes minimised): a re-initialisation places the used ring
    /// over the available ring, so vhost's used.idx store lands on avail.idx and every completion publishes one more
    /// chain; liveness can never see "all consumed" and owes nothing there (it fired
    /// liveness/available-chain-not-consumed, which also passed for a kill of two frontend mutants).</summary>
    [Fact]
    public void RobustFrontend_UsedRingOverAvailIdx_DoesNotFire()
    {
        byte[] input = Convert.FromHexString("000a00070000000000000000000c01000000000000000000000a98b905");
        var context = new FuzzContext();
        new VirtioPciTarget(Flavour.Robust, vhostFrontend: true).Execute(input, context);
        Assert.Null(context.Finding);
    }

    /// <summary>Found by the 20,000-run campaign of seed 3 (28 bytes minimised): a legacy QUEUE_PFN write moves the
    /// queue's rings under the running vhost, then the PCI command register turns bus mastering off, which clears
    /// DRIVER_OK (QEMU virtio_write_config) and stops vhost; the hand-back reads used->idx of the ring the registers
    /// name now. The checker, still on vhost's rings, fired permission/read-outside-chain; it now stops before that
    /// write as it does before a status write that stops vhost.</summary>
    [Fact]
    public void RobustFrontend_BusMasterOffStopsVhost_AfterRingsMoved_DoesNotFire()
    {
        byte[] input = Convert.FromHexString("000a0000000000000000000000050008000100000000000000070004");
        var context = new FuzzContext();
        var target = new VirtioPciTarget(Flavour.Robust, vhostFrontend: true);
        target.Execute(input, context);
        Assert.Null(context.Finding);
        Assert.Equal(1, ((VhostDemoFrontendDevice)target.LastDevice!).Stops);
    }

    [Fact]
    public void Registry_HasTheSeedFrontendTarget_WithARobustTransport()
    {
        var t = Assert.IsType<VirtioPciTarget>(FuzzTargets.Create(VirtioPciTarget.VhostSeedTargetName));
        Assert.True(t.VhostFrontend);
        Assert.Equal(Flavour.Seed, t.Flavour);
        Assert.Equal(Flavour.Robust, t.TransportFlavour);
        t.Execute([0], new FuzzContext());
        Assert.Equal(Flavour.Seed, Assert.IsType<VhostDemoFrontendDevice>(t.LastDevice).BackendFlavour);
    }

    /// <summary>One request and a kick through the notify capability: vhost starts on DRIVER_OK, so the kick reaches
    /// the backend's worker (ioeventfd, no exit to QEMU).</summary>
    private static byte[] OneRequest() =>
        Input(
            0,
            Op(VirtioPciInput.OpModernInit, 0, 5, ulong.MaxValue),
            Op(VirtioPciInput.OpPost, 1 | 2, 0, 0x1234_5678_0000_0001),
            Op(VirtioPciInput.OpRun, 1, 0, 0)
        );

    /// <summary>Seed flaw 1 (seed 000 lab 3, handle_demo_kick): the handler ends with an unconditional
    /// vhost_poll_queue, so after the request is answered the worker requeues itself forever; through PCI the
    /// execution reports <c>hang/vhost-worker-livelock</c> at the run. The robust backend answers and sleeps.</summary>
    [Fact]
    public void SeedFrontend_UnconditionalPollQueue_IsAWorkerLivelock()
    {
        byte[] input = OneRequest();
        var robust = new FuzzContext();
        new VirtioPciTarget(Flavour.Robust, vhostFrontend: true).Execute(input, robust);
        Assert.Null(robust.Finding);
        var context = new FuzzContext();
        var target = new VirtioPciTarget(Flavour.Seed, vhostFrontend: true);
        target.Execute(input, context);
        Assert.Equal(("hang", "hang/vhost-worker-livelock"), (context.Finding?.Oracle, context.Finding?.Site));
        var frontend = Assert.IsType<VhostDemoFrontendDevice>(target.LastDevice);
        Assert.Equal(1, frontend.Starts);
        Assert.Equal(1, frontend.Backend.Requests);
    }

    /// <summary>Seed flaw 2: handle_demo_kick passes pkts 0 to vhost_exceeds_weight, so only the byte weight can end
    /// a run. With one request published, the available index stepped 20 further (those slots name head 0 again) and
    /// one more request with a kick, a single handler run fetches 22 chains, past the packet weight of 16
    /// (<c>weight/chain-past-packet-weight</c>, before the livelock's 16 idle runs); the robust backend yields at 16,
    /// requeues, and finishes clean.</summary>
    [Fact]
    public void SeedFrontend_PktsZero_FetchesPastThePacketWeight()
    {
        byte[] input = Input(
            0,
            Op(VirtioPciInput.OpModernInit, 0, 5, ulong.MaxValue),
            Op(VirtioPciInput.OpPost, 1, 0, 0x1234_5678_0000_0001),
            Op(VirtioPciInput.OpPost, RingInput.OpSetAvailIdx << 4, 0, 20UL << 16),
            Op(VirtioPciInput.OpPost, 1 | 2, 0, 0x1234_5678_0000_0001),
            Op(VirtioPciInput.OpRun, 1, 0, 0)
        );
        var robust = new FuzzContext();
        var robustTarget = new VirtioPciTarget(Flavour.Robust, vhostFrontend: true);
        robustTarget.Execute(input, robust);
        Assert.Null(robust.Finding);
        Assert.Equal(22, ((VhostDemoFrontendDevice)robustTarget.LastDevice!).Backend.Device.Vqs[0].HeadsFetched);
        var context = new FuzzContext();
        new VirtioPciTarget(Flavour.Seed, vhostFrontend: true).Execute(input, context);
        Assert.Equal(("weight", "weight/chain-past-packet-weight"), (context.Finding?.Oracle, context.Finding?.Site));
    }

    /// <summary>Seed flaw 3, the first two together (found at execution 3 of <c>fuzz run --target virtio-pci-vhost-seed
    /// --seed 1</c>, 26 bytes minimised): handle_demo_kick never asks for a backend (vhost-test's handle_vq returns
    /// when vhost_vq_get_backend is NULL) and requeues itself whatever happened, so the work that the ioeventfd's start
    /// kick queued (QEMU virtio_device_start_ioeventfd_impl: "Kick right away") outlives vhost_dev_stop (QEMU keeps the
    /// vhost fd open; the worker lives until RESET_OWNER or close).
    /// Here the driver initialises (vhost starts), resets (vhost stops), and the worker keeps writing used->flags and
    /// reading avail->idx of a device the driver reset: <c>transport/device-access-while-stopped</c>. The robust
    /// backend, which neither requeues without cause nor runs without a backend, is clean.</summary>
    [Fact]
    public void SeedFrontend_WorkerOutlivesVhostStop_TouchesTheRingsAfterReset()
    {
        byte[] input = Convert.FromHexString("000a00000000000000000000000e00000000000000000000000d");
        var robust = new FuzzContext();
        new VirtioPciTarget(Flavour.Robust, vhostFrontend: true).Execute(input, robust);
        Assert.Null(robust.Finding);
        var context = new FuzzContext();
        var target = new VirtioPciTarget(Flavour.Seed, vhostFrontend: true);
        target.Execute(input, context);
        Assert.Equal(
            ("transport", "transport/device-access-while-stopped"),
            (context.Finding?.Oracle, context.Finding?.Site)
        );
        var frontend = Assert.IsType<VhostDemoFrontendDevice>(target.LastDevice);
        Assert.Equal(1, frontend.Stops);
        Assert.False(frontend.Backend.Device.Vqs[0].HasBackend);
    }

    /// <summary>The same flaw reached another way (26 bytes each; <c>--seed 1</c> execution 14,183 and <c>--seed 2</c>
    /// execution 6,399): a legacy driver's rings at 0x1000, bus mastering turned off by a PCI command write (DRIVER_OK
    /// cleared, vhost stopped), then a modern initialisation on other rings; the stale worker still reads the old
    /// available ring and writes the old used->flags, which the driver no longer offers:
    /// <c>permission/read-outside-chain</c> or <c>permission/write-outside-writable-buffers</c>, whichever access the
    /// checker sees first.</summary>
    [Theory]
    [InlineData("000b000000000000ff0000000007200000a3000000000000000a", "permission/read-outside-chain")]
    [InlineData("000b0000000000000000000000072000001a000000000000000a", "permission/write-outside-writable-buffers")]
    public void SeedFrontend_WorkerOutlivesVhostStop_TouchesTheOldRingsAfterReinit(string hex, string site)
    {
        byte[] input = Convert.FromHexString(hex);
        var robust = new FuzzContext();
        new VirtioPciTarget(Flavour.Robust, vhostFrontend: true).Execute(input, robust);
        Assert.Null(robust.Finding);
        var context = new FuzzContext();
        new VirtioPciTarget(Flavour.Seed, vhostFrontend: true).Execute(input, context);
        Assert.Equal(("permission", site), (context.Finding?.Oracle, context.Finding?.Site));
    }
}
