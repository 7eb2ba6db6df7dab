using Sim.Devices;
using Sim.Devices.Pci;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio.Transport;
using Sim.Spec.Pci;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Transport;
using Xunit;

namespace Virtsim.Fuzz.Tests.Transport;

/// <summary>
/// The missed-interrupt oracle on the virtio-pci targets (<c>notify/missed-interrupt-pci</c>, issue 12): used entries
/// past the driver's suppression state must be followed by an interrupt the guest can see — an MSI-X message, a masked
/// vector's pending bit, or INTx with ISR bit 0 — also across a vhost stop; a queue without a vector owes none.
/// Each test here is a case the oracle must accept on the robust targets.
/// </summary>
public sealed class VirtioPciInterruptTests
{
    private const byte NoMsix = 0;
    private const byte TwoVectors = 1;

    /// <summary>Index of a register in <c>VirtioPciInput.CommonRegisters</c> (op <c>a</c> bit 2 picks by
    /// index).</summary>
    private const ushort DeviceStatusIndex = 6;
    private const ushort QueueMsixVectorIndex = 10;

    private static byte[] Input(byte header, params byte[][] ops) => [header, .. ops.SelectMany(o => o)];

    private static byte[] Op(int code, byte a, ushort reg, ulong value) => VirtioPciInput.Encode(code, a, reg, value);

    /// <summary>VIRTIO 1.2 §3.1.1 with every offered feature (EVENT_IDX included) and a 16-entry ring.</summary>
    private static byte[] Init => Op(VirtioPciInput.OpModernInit, 0, 4, ulong.MaxValue);

    /// <summary>A well-formed demo request, published and kicked through the modern notify register.</summary>
    private static byte[] PostAndKick => Op(VirtioPciInput.OpPost, 1 | 2, 0, 0x1234_5678_0000_0001);

    private static byte[] Run => Op(VirtioPciInput.OpRun, 1, 0, 0);

    private static byte[] ShortRun(long ns) => Op(VirtioPciInput.OpRun, VirtioPciInput.RunShort, 0, (ulong)(ns - 1));

    /// <summary>MSI-X control: enable (PCI 3.0 §6.8.2.3), through the op's control-word choice.</summary>
    private static byte[] EnableMsix => Op(VirtioPciInput.OpPciConfigWrite, 0x30, 0, 1);

    private static byte[] MsixTable(int vector, int dword, uint value) =>
        Op(VirtioPciInput.OpMsixWrite, 0, (ushort)((vector * MsixCapability.EntrySize) + (4 * dword)), value);

    private static (FuzzContext Context, VirtioPciTarget Target) Execute(bool vhost, byte[] input)
    {
        var context = new FuzzContext();
        var target = new VirtioPciTarget(Flavour.Robust, vhostFrontend: vhost);
        target.Execute(input, context);
        return (context, target);
    }

    [Fact]
    public void Site_HasARuleCitingTheSpecAndQemusStopPath()
    {
        OracleRule? rule = OracleRules.For(NotificationChecker.Oracle, VirtioPciExecution.MissedInterruptSite);
        Assert.NotNull(rule);
        Assert.Equal(VirtioPciExecution.MissedInterruptSite, rule.Site);
        Assert.Contains("§2.7.7.2", rule.Citation, StringComparison.Ordinal);
        Assert.Contains("§6.8.3.4", rule.Citation, StringComparison.Ordinal);
        Assert.Contains("virtio_queue_guest_notifier_read", rule.Citation, StringComparison.Ordinal);
    }

    /// <summary>INTx (no MSI-X): the device's completion sets ISR bit 0 and asserts the line (VIRTIO 1.2 §4.1.4.5);
    /// the oracle, armed, accepts it, for the QEMU-style device and for vhost's userspace call path.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Intx_CompletionWithIsrBit0_IsClean(bool vhost)
    {
        (FuzzContext context, VirtioPciTarget target) = Execute(vhost, Input(NoMsix, Init, PostAndKick, Run));
        Assert.Null(context.Finding);
        Assert.Equal(1, target.LastDevice!.Isr & 1);
    }

    /// <summary>PCI 3.0 §6.8.3.4: a masked vector's message is held in the Pending Bit Array and sent on unmask; every
    /// vector starts masked, so an interrupt the device raises before the driver unmasks is pending, not missed (the
    /// oracle fired here before it counted the PBA).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Msix_MaskedVector_HoldsTheInterruptPending_IsClean(bool vhost)
    {
        (FuzzContext context, VirtioPciTarget target) = Execute(
            vhost,
            Input(TwoVectors, EnableMsix, Init, PostAndKick, Run)
        );
        Assert.Null(context.Finding);
        VirtioPciTransport transport = target.LastTransport!;
        Assert.True(transport.Msix!.IsPending(0));
    }

    /// <summary>An unmasked vector with a message that names a GSI: the device's interrupt is an MSI-X message (for
    /// vhost, with the target's userspace injection, raised by QEMU's guest notifier), never ISR-driven INTx.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Msix_UnmaskedVector_SendsTheMessage_IsClean(bool vhost)
    {
        MsiMessage message = MsiMessage.ForGsi(16);
        (FuzzContext context, VirtioPciTarget target) = Execute(
            vhost,
            Input(
                TwoVectors,
                EnableMsix,
                MsixTable(0, 0, (uint)message.Address),
                MsixTable(0, 2, message.Data),
                MsixTable(0, 3, 0),
                Init,
                PostAndKick,
                Run
            )
        );
        Assert.Null(context.Finding);
        VirtioPciTransport transport = target.LastTransport!;
        Assert.False(transport.Msix!.IsPending(0));
        Assert.True(transport.Msix.Delivered >= 1);
    }

    /// <summary>VIRTIO 1.2 §4.1.5.1.2: with MSI-X enabled, a queue whose vector is VIRTIO_MSI_NO_VECTOR gets no
    /// interrupt (QEMU virtio_pci_notify sends nothing for it), so nothing is owed for what the device completes; the
    /// oracle fired here before it knew the rule.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Msix_NoVector_OwesNoInterrupt_IsClean(bool vhost)
    {
        byte[] noVector = Op(VirtioPciInput.OpCommonWrite, 4 | 1, QueueMsixVectorIndex, 0xFFFF);
        (FuzzContext context, VirtioPciTarget target) = Execute(
            vhost,
            Input(TwoVectors, EnableMsix, Init, noVector, PostAndKick, Run)
        );
        Assert.Null(context.Finding);
        VirtioPciTransport transport = target.LastTransport!;
        Assert.Equal(0, transport.Msix!.Delivered);
        Assert.False(transport.Msix.IsPending(0));
    }

    /// <summary>QEMU vhost_virtqueue_stop → virtio_queue_set_guest_notifier_fd_handler(assign=false): a call vhost
    /// signalled just before the driver cleared DRIVER_OK (the main loop has not yet woken to read it) is read once
    /// more and raised. Short runs of every length across the kick → worker → call → main-loop chain put the stop
    /// before and after that read; every one must deliver the call exactly once and run clean. (With the read's
    /// branch negated, the mutant <c>VhostGuestNotifier.Detach</c> in <c>MutationSampleTests</c>, the call is lost and
    /// this oracle reports it.)</summary>
    [Fact]
    public void VhostStop_DeliversTheCallSignalledBeforeIt_AtEveryPointOfTheChain()
    {
        byte[] stop = Op(VirtioPciInput.OpCommonWrite, 4, DeviceStatusIndex, 0x0B);
        for (long ns = 500; ns <= 16_000; ns += 500)
        {
            (FuzzContext context, VirtioPciTarget target) = Execute(
                vhost: true,
                Input(NoMsix, Init, PostAndKick, ShortRun(ns), stop)
            );
            Assert.True(context.Finding is null, $"short run {ns} ns: {context.Finding?.Site}");
            var frontend = (VhostDemoFrontendDevice)target.LastDevice!;
            Assert.Equal(1, frontend.Stops);
            if (frontend.Backend.Requests > 0)
                Assert.True(frontend.GetUserspaceCalls(0) == 1, $"short run {ns} ns");
        }
    }
}
