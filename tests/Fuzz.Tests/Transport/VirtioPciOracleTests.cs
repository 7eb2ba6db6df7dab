using Sim.Devices;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using S = Sim.Spec.Virtio.VirtioStatus;

namespace Fuzz.Tests.Transport;

/// <summary>Each virtio-pci oracle fires on a deliberately wrong observation (so removing it fails a test), and the
/// seed flavour of the transport (QEMU's letter) trips the spec oracles the robust one passes.</summary>
public sealed class VirtioPciOracleTests
{
    private const ulong Offered = (1UL << 32) | (1UL << 28) | (1UL << 29);

    private static (VirtioPciRegisterModel Model, FuzzContext Context) Make(int vectors = 2)
    {
        var context = new FuzzContext();
        return (new VirtioPciRegisterModel([128], Offered, 0x3100_0000, vectors) { Context = context }, context);
    }

    [Fact]
    public void Spec_4_1_4_3_ReadbackOracle_FiresWhenASelectDoesNotStick()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        m.CommonWrite(L.CommonQueueSelect, 5, S.None);
        Assert.True(m.CommonRead(L.CommonQueueSelect, 2, 5));
        Assert.True(m.CommonRead(L.CommonQueueEnable, 2, 0)); // queue 5 is absent: reads 0
        Assert.Null(c.Finding);
        Assert.False(m.CommonRead(L.CommonQueueSelect, 2, 0));
        Assert.Equal("transport/common-readback", c.Finding?.Site);
    }

    [Fact]
    public void Spec_4_1_4_3_FeatureWordsFreezeAtFeaturesOk_AndVectorsBeyondTheTableReadNoVector()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        m.CommonWrite(L.CommonDriverFeature, 7, S.None);
        m.CommonWrite(L.CommonDriverFeature, 9, S.FeaturesOk);
        m.CommonWrite(L.CommonConfigMsixVector, 5, S.None);
        Assert.True(m.CommonRead(L.CommonDriverFeature, 4, 7));
        Assert.True(m.CommonRead(L.CommonConfigMsixVector, 2, L.NoVector));
        Assert.True(m.CommonRead(L.CommonDeviceFeature, 4, unchecked((uint)Offered)));
        Assert.Null(c.Finding);
        Assert.False(m.CommonRead(L.CommonDriverFeature, 4, 9));
    }

    [Fact]
    public void Spec_2_7_QueueSizeOracle_FiresOnANonPowerOfTwoOrAboveTheMaximum()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        Assert.True(m.CommonRead(L.CommonQueueSize, 2, 64));
        Assert.False(m.CommonRead(L.CommonQueueSize, 2, 96));
        Assert.Equal("transport/queue-size", c.Finding?.Site);
        (m, c) = Make();
        Assert.False(m.LegacyRead(L.LegacyQueueNum, 2, 256, msixEnabled: false));
    }

    [Fact]
    public void Spec_4_1_4_8_LegacyReadback_UnknownOffsetsReadAllOnes()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        Assert.True(m.LegacyRead(L.LegacyHostFeatures, 4, 0x3100_0000, false));
        Assert.True(m.LegacyRead(1, 1, 0xFF, false));
        Assert.False(m.LegacyRead(L.LegacyQueueNotify, 2, 0, false));
        Assert.Equal("transport/legacy-readback", c.Finding?.Site);
    }

    [Fact]
    public void Spec_2_1_1_NeedsResetOracle_FiresWhenTheDriversBitSticks()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        Assert.True(m.StatusWrite(S.Acknowledge, S.Acknowledge | S.DeviceNeedsReset, S.Acknowledge));
        Assert.True(
            m.StatusWrite(
                S.Acknowledge,
                S.Acknowledge | S.Driver,
                S.Acknowledge | S.Driver | S.DeviceNeedsReset,
                deviceRan: true
            )
        );
        Assert.Null(c.Finding);
        Assert.False(
            m.StatusWrite(S.Acknowledge, S.Acknowledge | S.DeviceNeedsReset, S.Acknowledge | S.DeviceNeedsReset)
        );
        Assert.Equal("transport/needs-reset-from-driver", c.Finding?.Site);
    }

    [Fact]
    public void Spec_3_1_1_FeaturesOkOracle_FiresWhenAnUnofferedBitIsAccepted()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        m.CommonWrite(L.CommonDriverFeature, 1u << 24, S.None); // NOTIFY_ON_EMPTY: legacy only, not in device_feature
        m.CommonWrite(L.CommonDriverFeatureSelect, 1, S.None);
        m.CommonWrite(L.CommonDriverFeature, 1, S.None);
        Assert.True(
            m.StatusWrite(S.Acknowledge | S.Driver, S.Acknowledge | S.Driver | S.FeaturesOk, S.Acknowledge | S.Driver)
        );
        Assert.Null(c.Finding);
        Assert.False(
            m.StatusWrite(
                S.Acknowledge | S.Driver,
                S.Acknowledge | S.Driver | S.FeaturesOk,
                S.Acknowledge | S.Driver | S.FeaturesOk
            )
        );
        Assert.Equal("transport/features-ok-kept", c.Finding?.Site);
    }

    [Fact]
    public void Spec_2_4_ResetOracles_FireOnAStatusOrQueueThatSurvivesReset()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        Assert.True(m.StatusWrite(S.Acknowledge, S.None, S.None));
        Assert.True(m.AfterReset(S.None, 0, 128, 0));
        Assert.Null(c.Finding);
        Assert.False(m.AfterReset(S.None, 0, 128, 1));
        Assert.Equal("transport/reset-queue-enabled", c.Finding?.Site);
        (m, c) = Make();
        Assert.False(m.StatusWrite(S.Acknowledge, S.None, S.Acknowledge));
        Assert.Equal("transport/reset-status", c.Finding?.Site);
        (m, c) = Make();
        Assert.False(m.AfterReset(S.None, 0, 16, 0));
        Assert.Equal("transport/reset-queue-size", c.Finding?.Site);
    }

    [Fact]
    public void Spec_4_1_4_5_1_IsrOracle_FiresWhenAReadDoesNotClear()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        Assert.True(m.IsrReadTwice(1, 0, intxAsserted: false));
        Assert.False(m.IsrReadTwice(1, 1, intxAsserted: false));
        Assert.Equal("transport/isr-not-cleared", c.Finding?.Site);
        (m, c) = Make();
        Assert.False(m.IsrReadTwice(1, 0, intxAsserted: true));
        Assert.Equal("transport/intx-after-isr-read", c.Finding?.Site);
    }

    [Fact]
    public void Spec_4_1_4_3_1_GenerationOracle_FiresOnAChangeUnderTheSameGeneration()
    {
        (VirtioPciRegisterModel m, FuzzContext c) = Make();
        Assert.True(m.ConfigSnapshot(0, 0x1333, 0));
        Assert.True(m.ConfigSnapshot(1, 0x2333, 2)); // torn read: the driver retries, nothing to judge
        Assert.True(m.ConfigSnapshot(1, 0x2333, 1));
        Assert.Null(c.Finding);
        Assert.False(m.ConfigSnapshot(1, 0x3333, 1));
        Assert.Equal("transport/config-changed-same-generation", c.Finding?.Site);
    }

    [Fact]
    public void Spec_3_1_2_AccessGate_FiresOnADeviceAccessWhileClosed()
    {
        GuestMemory memory = GuestMemory.CreateFlat(0x1000);
        var context = new FuzzContext();
        string? closed = "DRIVER_OK is not set";
        var gate = new DeviceAccessGate { Context = context, Probe = () => closed };
        memory.Observer = gate;
        using (memory.As(MemoryActor.Guest))
            memory.TryWriteUInt16(new GuestAddress(0x10), 1);
        Assert.Null(context.Finding);
        closed = null;
        memory.TryReadUInt16(new GuestAddress(0x10), out _);
        Assert.Null(context.Finding);
        closed = "bus mastering is off";
        memory.TryReadUInt16(new GuestAddress(0x10), out _);
        Assert.Equal("transport/device-access-while-stopped", context.Finding?.Site);
        Assert.Equal(2, gate.DeviceAccesses);
    }

    // ---- the whole target: the seed flavour (QEMU's letter) trips what the robust transport passes

    private static byte[] Input(byte header, params byte[][] ops) => [header, .. ops.SelectMany(o => o)];

    private static byte[] Op(int code, byte a, ushort reg, ulong value) => VirtioPciInput.Encode(code, a, reg, value);

    private static FindingSite? Run(Flavour flavour, byte[] input)
    {
        var context = new FuzzContext();
        new VirtioPciTarget(flavour).Execute(input, context);
        return context.Finding is { } f ? new FindingSite(f.Oracle, f.Site) : null;
    }

    private readonly record struct FindingSite(string Oracle, string Site);

    /// <summary>A modern driver enables a queue with valid rings and kicks before DRIVER_OK.</summary>
    private static readonly byte[] KickBeforeDriverOk = Input(
        2,
        Op(VirtioPciInput.OpCommonWrite, 0, L.CommonDeviceStatus, 3),
        Op(VirtioPciInput.OpCommonWrite, 2, L.CommonQueueDriver, 0x800),
        Op(VirtioPciInput.OpCommonWrite, 2, L.CommonQueueDevice, 0x1000),
        Op(VirtioPciInput.OpCommonWrite, 1, L.CommonQueueEnable, 1),
        Op(VirtioPciInput.OpNotify, 0, 0, 0)
    );

    [Fact]
    public void Spec_3_1_2_SeedTransport_ProcessesAQueueBeforeDriverOk_RobustDoesNot()
    {
        Assert.Null(Run(Flavour.Robust, KickBeforeDriverOk));
        Assert.Equal(
            new FindingSite("transport", "transport/device-access-while-stopped"),
            Run(Flavour.Seed, KickBeforeDriverOk)
        );
    }

    [Fact]
    public void Spec_2_1_1_SeedTransport_KeepsADriverWrittenNeedsReset_RobustDoesNot()
    {
        byte[] input = Input(
            0,
            Op(VirtioPciInput.OpCommonWrite, 0, L.CommonDeviceStatus, 0x43),
            Op(VirtioPciInput.OpCommonRead, 0, L.CommonDeviceStatus, 0)
        );
        Assert.Null(Run(Flavour.Robust, input));
        Assert.Equal(new FindingSite("transport", "transport/needs-reset-from-driver"), Run(Flavour.Seed, input));
    }

    [Fact]
    public void Spec_2_2_2_SeedTransport_AcceptsALegacyOnlyBitFromAModernDriver_RobustRefuses()
    {
        // ModernInit with one extra bit, 24 (VIRTIO_F_NOTIFY_ON_EMPTY, hidden from device_feature).
        byte[] input = Input(0, Op(VirtioPciInput.OpModernInit, 0x20, 4, 24UL << 58));
        Assert.Null(Run(Flavour.Robust, input));
        Assert.Equal(new FindingSite("transport", "transport/features-ok-kept"), Run(Flavour.Seed, input));
    }

    [Fact]
    public void RobustTarget_RunsItsSeedsClean()
    {
        foreach (byte[] seed in new VirtioPciTarget(Flavour.Robust).SeedCorpus())
            Assert.Null(Run(Flavour.Robust, seed));
    }
}
