using System.Globalization;
using Microsoft.Win32.SafeHandles;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Glue;

/// <summary>
/// <c>virtsim fuzz --target t --afl</c> and <c>--libfuzzer-driver</c>: attaches the engine's shared map, opens its
/// pipes and serves runs of the named target through our own executor. Runs inside the instrumented load
/// context (via <see cref="Entry.FuzzHost"/>) so the map holds the target's edges. Exit codes: 0 the engine hung
/// up, 2 not run under the engine (no segment id, no pipes) or a protocol error; under libFuzzer, 128 plus the
/// signal of the finding that ended the run (<see cref="LibFuzzerRunner"/>).
/// </summary>
internal static class GlueEntry
{
    public static int RunAfl(
        IFuzzTarget target,
        ExecutionLimits limits,
        bool noCoverage,
        string? inputPath,
        TextWriter error
    )
    {
        string? id = Environment.GetEnvironmentVariable(AflForkServer.ShmIdVariable);
        if (string.IsNullOrEmpty(id))
        {
            PrintNotUnderAfl(target, error);
            return 2;
        }
        if (!TryMapSize(Environment.GetEnvironmentVariable(AflForkServer.MapSizeVariable), out int mapSize))
        {
            error.WriteLine($"error: {AflForkServer.MapSizeVariable} must be a positive integer");
            return 2;
        }
        AflInput? input;
        if (inputPath is not null)
            input = AflInput.FromPath(inputPath);
        else if (!AflInput.TryFromStdin(out input))
        {
            error.WriteLine(
                "error: --afl reads each test case from stdin, which must be afl-fuzz's .cur_input file (not a "
                    + "pipe); or pass --afl-input @@"
            );
            return 2;
        }
        if (
            !TryAttach(
                AflForkServer.ShmIdVariable,
                id,
                Math.Min(mapSize, CoverageMap.Size),
                error,
                out SharedMemoryMap? map
            )
        )
            return 2;
        using (map)
        {
            if (
                !TryOpenPipes(
                    AflForkServer.ControlFd,
                    AflForkServer.StatusFd,
                    "afl-fuzz's fork-server pipes (is AFL_NO_FORKSRV set?)",
                    error,
                    out FileStream? control,
                    out FileStream? status
                )
            )
                return 2;
            using (control)
            using (status)
                return ServeAfl(target, limits, noCoverage, input!, map!, control!, status!, error);
        }
    }

    /// <summary>Says how --afl is meant to be started, when it was not started by afl-fuzz.</summary>
    private static void PrintNotUnderAfl(IFuzzTarget target, TextWriter error)
    {
        error.WriteLine(
            "error: --afl serves afl-fuzz's fork-server protocol and must be started by afl-fuzz "
                + $"({AflForkServer.ShmIdVariable} is not set); e.g."
        );
        error.WriteLine(
            $"  AFL_SKIP_BIN_CHECK=1 afl-fuzz -i corpus/{target.Name} -o out -t 5000 -- dotnet "
                + $".build/virtsim/virtsim.dll fuzz --target {target.Name} --afl"
        );
        error.WriteLine(
            "  (docs/fuzzing.md, \"Driving virtsim with AFL++ / libFuzzer\"); use --runs/--time for virtsim's "
                + "own engine"
        );
    }

    /// <summary>Serves afl-fuzz's runs on the attached map and open pipes until it hangs up: 0, or 2 on a
    /// protocol error.</summary>
    private static int ServeAfl(
        IFuzzTarget target,
        ExecutionLimits limits,
        bool noCoverage,
        AflInput input,
        SharedMemoryMap map,
        FileStream control,
        FileStream status,
        TextWriter error
    )
    {
        ICoverage coverage = noCoverage ? new NullCoverage("--no-coverage") : EdgeCoverage.Detect(target);
        error.WriteLine(
            $"afl: target={target.Name} input={input.Description} map={map.Size} coverage: {coverage.Description}"
        );
        IGlueTarget glue = WarmedUp(target, new ExecutorGlueTarget(new FuzzExecutor(target, coverage, limits)));
        var server = new AflForkServer(glue, control, status, input, map, Environment.ProcessId) { Log = error };
        bool ok = server.Serve(out string? problem);
        error.WriteLine($"afl: {server.Runs} runs, {server.Crashes} crashes{(ok ? "" : "; " + problem)}");
        return ok ? 0 : 2;
    }

    public static int RunLibFuzzer(IFuzzTarget target, ExecutionLimits limits, bool noCoverage, TextWriter error)
    {
        string? id = Environment.GetEnvironmentVariable(LibFuzzerRunner.ShmIdVariable);
        if (string.IsNullOrEmpty(id))
        {
            error.WriteLine(
                $"error: --libfuzzer-driver is started by the libFuzzer driver ({LibFuzzerRunner.ShmIdVariable} is "
                    + "not set); e.g."
            );
            error.WriteLine(
                "  tools/libfuzzer-driver/build.sh && .build/libfuzzer-driver/virtsim-libfuzzer --virtsim='dotnet "
                    + $".build/virtsim/virtsim.dll fuzz --target {target.Name} --libfuzzer-driver' "
                    + $"corpus/{target.Name}"
            );
            return 2;
        }
        // SharpFuzz's runner attaches the segment itself and, given a bad id, would serve inputs from address -1;
        // attaching it here first turns that into a message.
        const int SegmentSize = LibFuzzerRunner.MapSize + LibFuzzerRunner.InputBytesMax;
        if (!TryAttach(LibFuzzerRunner.ShmIdVariable, id, SegmentSize, error, out SharedMemoryMap? probe))
            return 2;
        probe!.Dispose();
        foreach (string variable in (string[])[LibFuzzerRunner.ControlPipeVariable, LibFuzzerRunner.StatusPipeVariable])
        {
            if (!SharedMemoryMap.TryParseId(Environment.GetEnvironmentVariable(variable), out _))
            {
                error.WriteLine(
                    $"error: {variable} must hold the driver's pipe file descriptor"
                        + " (is the driver older than this virtsim?)"
                );
                return 2;
            }
        }
        ICoverage detected = noCoverage ? new NullCoverage("--no-coverage") : EdgeCoverage.Detect(target);
        ICoverage coverage = detected.IsAvailable ? new RunnerMapCoverage(detected.Description) : detected;
        error.WriteLine($"libfuzzer: target={target.Name} coverage: {coverage.Description}");
        IGlueTarget glue = WarmedUp(target, new ExecutorGlueTarget(new FuzzExecutor(target, coverage, limits)));
        var runner = new LibFuzzerRunner(glue) { Log = error };
        int code;
        try
        {
            code = runner.Serve();
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            // Only setting up the pipes can throw out of the runner; once serving, it returns when they break.
            error.WriteLine(
                $"error: cannot open the driver's pipes ({LibFuzzerRunner.ControlPipeVariable},"
                    + $" {LibFuzzerRunner.StatusPipeVariable}): {e.Message}"
            );
            return 2;
        }
        error.WriteLine($"libfuzzer: {runner.Runs} runs, {runner.Crashes} crashes");
        return code;
    }

    /// <summary>Runs the target's seed corpus once, unreported, before the handshake: first executions run static
    /// constructors and fill lazy caches, whose one-off edges would otherwise show up as AFL "variable bytes"
    /// (stability below 100%) and as spurious libFuzzer features.</summary>
    public static IGlueTarget WarmedUp(IFuzzTarget target, IGlueTarget glue)
    {
        foreach (byte[] seed in target.SeedCorpus())
            _ = glue.Run(seed);
        _ = glue.Run([]);
        return glue;
    }

    /// <summary>AFL_MAP_SIZE, or 64 KiB when unset.</summary>
    public static bool TryMapSize(string? text, out int size)
    {
        if (string.IsNullOrEmpty(text))
        {
            size = AflForkServer.DefaultMapSize;
            return true;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out size) && size > 0;
    }

    private static bool TryAttach(string variable, string id, int size, TextWriter error, out SharedMemoryMap? map)
    {
        map = null;
        if (!SharedMemoryMap.TryParseId(id, out int shmId))
        {
            error.WriteLine($"error: {variable}='{id}' is not a shared-memory id");
            return false;
        }
        if (!SharedMemoryMap.TryAttach(shmId, size, out map, out string? problem))
        {
            error.WriteLine($"error: cannot attach the coverage map ({variable}={id}): {problem}");
            return false;
        }
        return true;
    }

    private static bool TryOpenPipes(
        int controlFd,
        int statusFd,
        string what,
        TextWriter error,
        out FileStream? control,
        out FileStream? status
    )
    {
        control = null;
        status = null;
        try
        {
            control = new FileStream(new SafeFileHandle(controlFd, ownsHandle: false), FileAccess.Read, bufferSize: 0);
            status = new FileStream(new SafeFileHandle(statusFd, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            return true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            control?.Dispose();
            error.WriteLine($"error: fds {controlFd}/{statusFd} are not open: expected {what} ({e.Message})");
            return false;
        }
    }
}
