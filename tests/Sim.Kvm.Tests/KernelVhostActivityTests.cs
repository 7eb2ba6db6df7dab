using Sim.Kvm.KernelVhost;

namespace Sim.Kvm.Tests;

/// <summary>The direct-wired recorder's reading of lab/vhost-demo's counters (docs/recording.md §5): the difference of
/// two VHOST_DEMO_GET_STATS answers, checked against the used index read in guest memory, gives the kicks handled,
/// the used entries added and, per signal in order, the used index it covered; counters that do not explain the ring
/// are refused with the reason.</summary>
public class KernelVhostActivityTests
{
    private static KernelVhostStats Stats(
        ulong kicks,
        ulong used,
        ulong signals,
        params (ulong Signal, ushort UsedIdx)[] log
    )
    {
        var ring = new ushort[KernelVhostStats.SignalLog];
        foreach ((ulong signal, ushort usedIdx) in log)
            ring[signal % KernelVhostStats.SignalLog] = usedIdx;
        return new KernelVhostStats(kicks, used, signals, ring);
    }

    [Fact]
    public void OneRequest_IsOneKickOneUsedOneSignalAtTheNewIndex()
    {
        KernelVhostStats before = Stats(3, 3, 3, (2, 3));
        KernelVhostStats after = Stats(4, 4, 4, (2, 3), (3, 4));
        bool ok = KernelVhostActivity.TryDiff(before, after, 3, 4, out KernelVhostActivity a, out string error);
        Assert.True(ok, error);
        Assert.Equal(1UL, a.Kicks);
        Assert.Equal(1UL, a.Used);
        Assert.Equal(new ushort[] { 4 }, a.SignalUsedIdx);
        Assert.False(a.IsEmpty);
    }

    [Fact]
    public void SignalsAcrossTheIndexWrap_KeepTheirOrderAndIndexes()
    {
        // used->idx wraps at 2^16 (VIRTIO 1.2 §2.7.8): 0xFFFE → 0x0001, three entries, two signals.
        KernelVhostStats before = Stats(10, 65534, 9);
        KernelVhostStats after = Stats(11, 65537, 11, (9, 0xFFFF), (10, 0x0001));
        bool ok = KernelVhostActivity.TryDiff(before, after, 0xFFFE, 1, out KernelVhostActivity a, out string error);
        Assert.True(ok, error);
        Assert.Equal(3UL, a.Used);
        Assert.Equal(new ushort[] { 0xFFFF, 0x0001 }, a.SignalUsedIdx);
    }

    [Fact]
    public void NoChange_IsEmpty()
    {
        KernelVhostStats s = Stats(5, 5, 5, (4, 5));
        Assert.True(KernelVhostActivity.TryDiff(s, s, 5, 5, out KernelVhostActivity a, out _));
        Assert.True(a.IsEmpty);
    }

    [Fact]
    public void UsedCountThatIsNotTheIndexAdvance_IsRefused()
    {
        Assert.False(KernelVhostActivity.TryDiff(Stats(0, 0, 0), Stats(1, 2, 0), 0, 1, out _, out string error));
        Assert.Contains("2 used entries added but used->idx moved 1", error, StringComparison.Ordinal);
    }

    [Fact]
    public void CounterGoingBack_IsRefused()
    {
        Assert.False(KernelVhostActivity.TryDiff(Stats(2, 2, 2), Stats(1, 2, 2), 2, 2, out _, out string error));
        Assert.Contains("went back", error, StringComparison.Ordinal);
    }

    [Fact]
    public void SignalOutsideTheNewEntries_IsRefused()
    {
        // A signal logged at used index 9 while the ring moved 3 → 5 cannot have covered these entries.
        KernelVhostStats before = Stats(0, 3, 0);
        Assert.False(KernelVhostActivity.TryDiff(before, Stats(1, 5, 1, (0, 9)), 3, 5, out _, out string error));
        Assert.Contains("signal 0 at used index 9", error, StringComparison.Ordinal);
        // Signals out of order (the second one behind the first).
        Assert.False(KernelVhostActivity.TryDiff(before, Stats(1, 5, 2, (0, 5), (1, 4)), 3, 5, out _, out error));
        Assert.Contains("signal 1 at used index 4", error, StringComparison.Ordinal);
    }

    [Fact]
    public void MoreSignalsThanTheModuleLogs_IsRefused()
    {
        ulong n = KernelVhostStats.SignalLog + 1;
        KernelVhostStats after = Stats(1, n, n);
        Assert.False(KernelVhostActivity.TryDiff(Stats(0, 0, 0), after, 0, (ushort)n, out _, out string error));
        Assert.Contains("logs the used index of the last 64", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSignalLog_ForgetsSignalsOlderThanItsSize()
    {
        KernelVhostStats s = Stats(0, 0, 100, (99, 7));
        Assert.True(s.TryUsedIdxAtSignal(99, out ushort idx));
        Assert.Equal(7, idx);
        Assert.False(s.TryUsedIdxAtSignal(100 - KernelVhostStats.SignalLog - 1, out _));
        Assert.False(s.TryUsedIdxAtSignal(100, out _));
    }

    [Fact]
    public void DemoStatsIoctl_HasTheModulesNumberAndSize()
    {
        // _IOWR(0xAF, 0x31, struct vhost_demo_stats): dir 3, size 160 = 4 + 4 + 3 * 8 + 64 * 2.
        Assert.Equal(160, VhostIoctl.DemoStatsSize);
        Assert.Equal((nuint)0xC0A0AF31, VhostIoctl.GetDemoStats);
    }

    [Fact]
    public void ModuleSource_DeclaresTheLogSizeAndIoctlTheRecorderReads()
    {
        string? source = null;
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null && source is null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "lab", "vhost-demo", "vhost_demo.c");
            if (File.Exists(candidate))
                source = File.ReadAllText(candidate);
        }
        Assert.NotNull(source);
        const StringComparison ordinal = StringComparison.Ordinal;
        Assert.Contains($"#define VHOST_DEMO_SIGNAL_LOG {KernelVhostStats.SignalLog}\n", source, ordinal);
        const string ioctl = "#define VHOST_DEMO_GET_STATS _IOWR(VHOST_VIRTIO, 0x31, struct vhost_demo_stats)";
        Assert.Contains(ioctl, source, ordinal);
        Assert.Contains($"#define VHOST_DEMO_STATS_FLUSH {VhostIoctl.DemoStatsFlush}u", source, ordinal);
    }
}
