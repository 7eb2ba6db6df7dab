using Virtsim.Fuzz.Coverage;

namespace Fuzz.Tests;

/// <summary>The block scan of <see cref="CoverageTracker"/> (every non-zero byte found once, whatever the map length
/// and wherever the hits lie).</summary>
public sealed class CoverageScanTests
{
    [Fact]
    public void CountEdges_FindsEveryNonZeroByte_AtBlockEdgesAndInTheTail()
    {
        foreach (int length in new[] { 0, 1, 31, 32, 33, 64, 100, CoverageMap.Size })
        {
            var map = new byte[length];
            int expected = 0;
            foreach (int i in new[] { 0, 1, 30, 31, 32, 63, 64, 95, 96, 99, length - 1 })
            {
                if (i < 0 || i >= length || map[i] != 0)
                    continue;
                map[i] = (byte)(1 + (i % 200));
                expected++;
            }
            Assert.Equal(expected, CoverageTracker.CountEdges(map));
        }
    }

    [Fact]
    public void Merge_RecordsEachHitOnce_AndOnlyNewBucketsAreNovel()
    {
        var tracker = new CoverageTracker(100);
        var map = new byte[100];
        map[31] = 1;
        map[32] = 3;
        map[99] = 200;
        Assert.True(tracker.WouldBeNovel(map));
        Assert.True(tracker.Merge(map));
        Assert.Equal(3, tracker.Edges);
        Assert.False(tracker.WouldBeNovel(map));
        Assert.False(tracker.Merge(map));
        map[32] = 2; // a new bucket of a known edge: novel, no new edge
        Assert.True(tracker.Merge(map));
        Assert.Equal(3, tracker.Edges);
    }
}
