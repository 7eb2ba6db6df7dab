using Sim.Devices;
using Sim.Devices.Vhost.Frontend;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Virtsim.Fuzz.Tests.Transport;

/// <summary>
/// <c>used-ring/completed-chain-refetched</c> on <c>virtio-pci-vhost-robust</c>: DRIVER_OK cleared and set again with
/// no reset between stops and restarts vhost (QEMU vhost_virtqueue_stop stores VHOST_GET_VRING_BASE with
/// virtio_queue_set_last_avail_idx, vhost_virtqueue_start hands virtio_queue_get_last_avail_idx back with
/// VHOST_SET_VRING_BASE), and the checker keeps, across that stop, the available-ring positions the device completed
/// chains from. The legal sequences around it stay clean: a restart by status write, by bus mastering off and on (QEMU
/// virtio_write_config clears DRIVER_OK), after a legacy QUEUE_PFN rewrite while stopped, after a reset. The broken
/// hand-back (StopVhost's loop skipped) is killed through <c>virtsim mutants</c> (MutationSampleTests).
/// </summary>
public sealed class VhostFrontendResumeTests
{
    private static readonly byte[] Post = Op(VirtioPciInput.OpPost, 1 | 2, 0, 0x1234_5678_0000_0001);
    private static readonly byte[] LegacyPost = Op(VirtioPciInput.OpPost, 1 | 2 | 4, 0, 1);
    private static readonly byte[] RunOp = Op(VirtioPciInput.OpRun, 1, 0, 0);

    private static byte[] Input(byte header, params byte[][] ops) => [header, .. ops.SelectMany(o => o)];

    private static byte[] Op(int code, byte a, ushort reg, ulong value) => VirtioPciInput.Encode(code, a, reg, value);

    private static byte[] Status(byte value) => Op(VirtioPciInput.OpCommonWrite, 4, 6, value);

    private static VhostDemoFrontendDevice RunClean(byte[] input)
    {
        var context = new FuzzContext();
        var target = new VirtioPciTarget(Flavour.Robust, vhostFrontend: true);
        target.Execute(input, context);
        Assert.Null(context.Finding);
        return Assert.IsType<VhostDemoFrontendDevice>(target.LastDevice);
    }

    /// <summary>The seed (<see cref="VirtioPciInput.Seeds"/>' ninth): the restart resumes after the answered chain,
    /// so the backend answers two requests, not three (the broken hand-back restarts at 0 and answers the first
    /// again).</summary>
    [Fact]
    public void QemuVhostStopStart_StatusRestartWithoutReset_ResumesAndIsClean()
    {
        VhostDemoFrontendDevice frontend = RunClean(
            Input(0, Op(VirtioPciInput.OpModernInit, 0, 4, ulong.MaxValue), Post, RunOp, Status(0x0B), Status(0x0F))
                .Concat(Post)
                .Concat(RunOp)
                .ToArray()
        );
        Assert.Equal(2, frontend.Starts);
        Assert.Equal(1, frontend.Stops);
        Assert.Equal(2, frontend.Backend.Requests);
    }

    [Fact]
    public void QemuVirtioWriteConfig_BusMasterOffThenOn_RestartIsClean()
    {
        VhostDemoFrontendDevice frontend = RunClean(
            Input(
                0,
                Op(VirtioPciInput.OpModernInit, 0, 4, ulong.MaxValue),
                Post,
                RunOp,
                Op(VirtioPciInput.OpPciConfigWrite, 0x20 | 1, 0, 0x3), // command: I/O and memory, bus mastering off
                Op(VirtioPciInput.OpPciConfigWrite, 0x20 | 1, 0, 0x7), // bus mastering on
                Status(0x0F),
                Post,
                RunOp
            )
        );
        Assert.Equal(2, frontend.Starts);
        Assert.Equal(2, frontend.Backend.Requests);
    }

    /// <summary>A legacy driver clears DRIVER_OK, writes the same QUEUE_PFN again and sets DRIVER_OK: the checker
    /// starts afresh (a ring write came between), and the device resumes anyway (QEMU virtio_queue_set_addr keeps the
    /// indices).</summary>
    [Fact]
    public void LegacyQueuePfnRewrittenWhileStopped_RestartIsClean()
    {
        VhostDemoFrontendDevice frontend = RunClean(
            Input(
                0,
                Op(VirtioPciInput.OpLegacyInit, 0, 0, ulong.MaxValue),
                LegacyPost,
                RunOp,
                Op(VirtioPciInput.OpLegacyWrite, 4, 6, 0x03), // status: ACKNOWLEDGE | DRIVER
                Op(VirtioPciInput.OpLegacyWrite, 4 | 2, 2, 1), // QUEUE_PFN 1, as LegacyInit wrote
                Op(VirtioPciInput.OpLegacyWrite, 4, 6, 0x07),
                LegacyPost,
                RunOp
            )
        );
        Assert.Equal(2, frontend.Starts);
        Assert.Equal(2, frontend.Backend.Requests);
    }
}
