using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Xunit;

namespace Sim.Devices.Tests.Blk;

public sealed class BlkScenarioTests
{
    private static (ScenarioRun Run, IReadOnlyList<string> Lines) Run(
        ulong seed,
        params (string Key, string Value)[] opts
    )
    {
        var options = new ScenarioOptions(seed);
        foreach ((string k, string v) in opts)
            options = options.With(k, v);
        ScenarioRun run = ScenarioCatalog.Find("blk")!.Create(options);
        run.Run();
        return (run, run.ReportLines());
    }

    [Theory]
    [InlineData("legacy", "intx")]
    [InlineData("modern", "msix")]
    public void RobustTestProgramPasses(string transport, string irq)
    {
        (ScenarioRun run, IReadOnlyList<string> lines) = Run(
            1,
            ("writes", "3"),
            ("transport", transport),
            ("irq", irq)
        );
        Assert.True(run.Simulation.GuestExited);
        Assert.Equal("blk: capacity 2048 sectors (1048576 bytes)", lines[0]);
        Assert.Equal("get_id: OK len=21 id=\"virtsim-blk0\"", lines[1]);
        for (int i = 2; i < 5; i++)
            Assert.Matches(@"^write sector \d+ x2: OK len=1; read back: OK len=1025 match$", lines[i]);
        Assert.Equal("flush: OK len=1", lines[5]);
        Assert.Equal("read sector 2048 (one past the end): IOERR len=513", lines[6]);
        Assert.Equal("blk: done, 9 requests, 0 mismatches, 0 failures", lines[7]);
        Assert.Equal(
            "device: flavour=robust capacity=2048 requests=9 reads=3 writes=3 flushes=1 get_ids=1 ioerr=1 unsupp=0 "
                + "bytes_read=3072 bytes_written=3072 malformed=0 broken=0",
            lines[8]
        );
        Assert.StartsWith("per_request: requests=9 ", lines[9]);
    }

    [Fact]
    public void SeedFlavourReportsWriteLengthAndReadsDiskForGetId()
    {
        (_, IReadOnlyList<string> lines) = Run(1, ("writes", "1"), ("flavour", "seed"), ("size", "65536"));
        Assert.Equal("get_id: OK len=21 id=\"\"", lines[1]); // GET_ID is a read of sector 0 (zeroes)
        Assert.Matches(@"^write sector \d+ x2: OK len=1025; read back: OK len=1025 match$", lines[2]);
        Assert.Equal("read sector 128 (one past the end): IOERR len=513", lines[4]);
    }

    [Fact]
    public void SameSeedSameEventHashDifferentSeedDifferentData()
    {
        (ScenarioRun a, IReadOnlyList<string> la) = Run(3);
        (ScenarioRun b, IReadOnlyList<string> lb) = Run(3);
        (ScenarioRun c, _) = Run(4);
        Assert.Equal(a.Simulation.EventHash, b.Simulation.EventHash);
        Assert.Equal(la, lb);
        Assert.NotEqual(a.Simulation.EventHash, c.Simulation.EventHash);
    }
}
