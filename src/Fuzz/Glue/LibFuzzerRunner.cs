using SharpFuzz;
using Virtsim.Fuzz.Coverage;

namespace Virtsim.Fuzz.Glue;

/// <summary>
/// The .NET half of tools/libfuzzer-driver: SharpFuzz's <c>Fuzzer.LibFuzzer.Run</c>, which speaks
/// libfuzzer-dotnet's protocol (SharpFuzz 2.3.0, src/SharpFuzz/Fuzzer.LibFuzzer.cs):
/// <list type="number">
/// <item>The driver creates one System V segment of the 64 KiB edge map followed by up to 1 MiB of input and names
/// it in <c>__LIBFUZZER_SHM_ID</c>; <c>__LIBFUZZER_CONTROL_PIPE_ID</c> and <c>__LIBFUZZER_STATUS_PIPE_ID</c> hold
/// the file descriptors of its pipes (driver → us, us → driver).</item>
/// <item>The runner attaches the segment, points SharpFuzz's trace map at its start (so the edges of every run land
/// in it: <see cref="RunnerMapCoverage"/>) and says hello with a status of 0.</item>
/// <item>Per input the driver clears the map, writes the input after it and sends its length (a host-endian
/// int32); the runner calls our callback on those bytes and answers a status: 0, or 2 when the callback threw.
/// After a 2 it stops, as a libFuzzer target stops at its first crash.</item>
/// <item>The control pipe closing (libFuzzer exiting) makes the runner return quietly.</item>
/// </list>
/// The status has no room for what kind of finding it was, so the process exit code carries it: 128 plus the
/// finding's signal (<see cref="GlueVerdict"/>: 134 a crash, 142 a hang), which the driver reads with
/// <c>waitpid</c> after a status of 2 to tell libFuzzer a crash from a timeout.
/// </summary>
internal sealed class LibFuzzerRunner
{
    public const string ShmIdVariable = "__LIBFUZZER_SHM_ID";

    public const string ControlPipeVariable = "__LIBFUZZER_CONTROL_PIPE_ID";

    public const string StatusPipeVariable = "__LIBFUZZER_STATUS_PIPE_ID";

    /// <summary>The segment's layout, as the driver creates it: the map, then the input.</summary>
    public const int MapSize = CoverageMap.Size;

    /// <summary>libfuzzer-dotnet's <c>DATA_SIZE</c>: the longest input the segment holds (1 MiB).</summary>
    public const int InputBytesMax = 1 << 20;

    /// <summary>Exit code base: a reported finding exits with this plus its signal, as a shell reports a death by
    /// that signal.</summary>
    public const int ExitSignalBase = 128;

    private readonly GlueRunCounter _runs;

    public LibFuzzerRunner(IGlueTarget target) => _runs = new GlueRunCounter(target, null, "libfuzzer");

    public long Runs => _runs.Runs;

    public long Crashes => _runs.Crashes;

    /// <summary>Where findings are narrated (before the runner prints the exception it catches).</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Serves inputs until the driver hangs up (0) or a finding was reported (128 + its signal). The
    /// environment must name the segment and pipes (<see cref="GlueEntry.RunLibFuzzer"/> checks): without them
    /// SharpFuzz would run once on a file named by the first command-line argument.</summary>
    public int Serve()
    {
        GlueVerdict reported = GlueVerdict.Ok;
        try
        {
            Fuzzer.LibFuzzer.Run(input =>
            {
                GlueVerdict verdict = _runs.Run(input, Log);
                if (!verdict.Crashed)
                    return;
                reported = verdict;
                Log?.Flush();
                throw new LibFuzzerFindingException(verdict.Finding?.ToString() ?? "finding");
            });
        }
        finally
        {
            // The runner has detached the segment its map pointer still names; give instrumented code that runs
            // later in this process (tests, a caller) the engine's map back.
            CoverageMap.Reset();
        }
        return reported.Crashed ? ExitSignalBase + reported.WaitStatus : 0;
    }
}
