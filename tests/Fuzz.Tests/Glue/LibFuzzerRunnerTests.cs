using Virtsim.Fuzz.Glue;
using Xunit.Abstractions;

namespace Fuzz.Tests.Glue;

/// <summary><see cref="LibFuzzerRunner"/> (SharpFuzz's <c>Fuzzer.LibFuzzer.Run</c> around our executor) against a fake
/// of tools/libfuzzer-driver/driver.c speaking libfuzzer-dotnet's protocol: the hello, inputs read from the
/// segment, a status per input, a finding ending the run with the exit code that tells a crash from a hang.
/// Process-wide state (the environment, SharpFuzz's trace map): runs in the non-parallel coverage-map
/// collection.</summary>
[Collection(CoverageMapCollection.Name)]
public sealed class LibFuzzerRunnerTests(ITestOutputHelper output)
{
    private static (LibFuzzerRunner Runner, Task<int> Serving, StringWriter Log) Start(FakeGlueTarget target)
    {
        var log = new StringWriter();
        var runner = new LibFuzzerRunner(target) { Log = log };
        return (runner, Task.Run(runner.Serve), log);
    }

    [Fact]
    public async Task LibFuzzer_Hello_InputsFromTheSegment_StatusPerInput_HangUpExits0()
    {
        using var driver = new FakeLibFuzzerDriver();
        var target = new FakeGlueTarget();
        (LibFuzzerRunner runner, Task<int> serving, _) = Start(target);

        Assert.Equal(0, driver.ReadStatus());
        byte[][] inputs =
        [
            [5, 6],
            [],
            [9, 9, 9],
            new byte[4096],
        ];
        foreach (byte[] input in inputs)
            Assert.Equal(0, driver.Run(input));
        driver.HangUp();

        Assert.Equal(0, await serving.WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.Equal(inputs.Length, runner.Runs);
        Assert.Equal(0, runner.Crashes);
        Assert.Equal(inputs, target.Inputs);
    }

    [Theory]
    [InlineData(0xFF, "fake at first-byte", 128 + GlueVerdict.SignalAbort)]
    [InlineData(0xFE, "hang at first-byte", 128 + GlueVerdict.SignalAlarm)]
    public async Task LibFuzzer_Finding_AnswersStatus2_Logs_ExitsWithItsSignal(byte first, string finding, int exitCode)
    {
        using var driver = new FakeLibFuzzerDriver();
        var target = new FakeGlueTarget();
        (LibFuzzerRunner runner, Task<int> serving, StringWriter log) = Start(target);

        Assert.Equal(0, driver.ReadStatus());
        Assert.Equal(0, driver.Run([1, 2]));
        // SharpFuzz's Fault.Crash: the runner answers it for an exception out of the callback, then stops.
        Assert.Equal(2, driver.Run([first, 7]));

        Assert.Equal(exitCode, await serving.WaitAsync(TimeSpan.FromMinutes(1)));
        output.WriteLine(log.ToString());
        Assert.Equal(2, runner.Runs);
        Assert.Equal(1, runner.Crashes);
        Assert.Contains($"libfuzzer: run 2: {finding}", log.ToString(), StringComparison.Ordinal);
    }
}
