using Virtsim.Fuzz.Campaign;
using Xunit;

namespace Virtsim.Cli.Tests.Campaign;

public sealed class TargetSchedulerTests
{
    [Fact]
    public void NewTargetsFirst_ThenLeastWeightedTime_ProductiveTargetsGetAboutTwiceTheShare()
    {
        var s = new TargetScheduler(["c", "a", "b"]);
        var none = new HashSet<string>();
        Assert.Equal("a", s.Next(none));
        Assert.Equal("b", s.Next(new HashSet<string> { "a" }));
        Assert.Null(s.Next(new HashSet<string> { "a", "b", "c" }));
        // Simulate 60 slices of 10 s on one slot: "a" keeps finding edges, the others are quiet.
        var slices = new Dictionary<string, int>();
        for (int i = 0; i < 60; i++)
        {
            string t = s.Next(none)!;
            slices[t] = slices.GetValueOrDefault(t) + 1;
            s.Finished(t, 10, foundNewEdge: t == "a");
        }
        Assert.InRange(slices["a"], 28, 32);
        Assert.InRange(slices["b"], 13, 17);
        Assert.InRange(slices["c"], 13, 17);
        Assert.Equal(600, s.SecondsOf("a") + s.SecondsOf("b") + s.SecondsOf("c"));
    }
}
