using Sim.Engine.Scenarios;
using Sim.Engine.Time;
using Xunit;
using Xunit.Abstractions;

namespace Sim.Engine.Tests.SimulationTests;

public sealed class PingScenarioTests
{
    private readonly ITestOutputHelper _output;

    public PingScenarioTests(ITestOutputHelper output) => _output = output;

    private static ScenarioRun RunPing(ulong seed, long requests = 16)
    {
        ScenarioRun run = new PingScenario().Create(new ScenarioOptions(seed).With("requests", requests.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        run.Run();
        return run;
    }

    [Fact]
    public void Ping_CompletesEveryRequestAndPrints()
    {
        ScenarioRun run = RunPing(1);
        foreach (string line in run.ReportLines()) _output.WriteLine(line);
        Assert.True(run.Simulation.GuestExited);
        Assert.Equal(StopReason.Stopped, run.Simulation.StopReason);
    }
}
