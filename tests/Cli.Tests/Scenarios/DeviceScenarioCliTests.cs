using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

public sealed class DeviceScenarioCliTests
{
    [Theory]
    [InlineData("demo", "flavour=seed")]
    [InlineData("virtio-demo", "transport=legacy")]
    [InlineData("factorial", "n=5,12")]
    public void RunWithTrace_ThenReplay_Matches(string scenario, string option)
    {
        string dir = Path.Combine(Path.GetTempPath(), "virtsim-dev1-" + scenario + "-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        string trace = Path.Combine(dir, scenario + ".vtrace");
        try
        {
            var outRun = new StringWriter();
            var errRun = new StringWriter();
            int rc = new CliApp(outRun, errRun).Run([
                "run",
                scenario,
                "--seed",
                "5",
                "--opt",
                option,
                "--trace",
                trace,
                "--force",
            ]);
            Assert.True(rc == 0, errRun.ToString());
            Assert.Contains("per_request:", outRun.ToString(), StringComparison.Ordinal);
            var outReplay = new StringWriter();
            var errReplay = new StringWriter();
            rc = new CliApp(outReplay, errReplay).Run(["replay", trace]);
            Assert.True(rc == 0, outReplay + errReplay.ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
