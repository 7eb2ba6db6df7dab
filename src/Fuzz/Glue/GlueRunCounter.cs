namespace Virtsim.Fuzz.Glue;

/// <summary>
/// One served execution, the same for every bridge: run the input on the target, copy its edge map into the
/// fuzzer's shared map (AFL++; under libFuzzer the edges are written into the runner's map already, so there is
/// none to copy), count the run and, for a crash, count it and narrate it on the log (the fuzzer keeps the input;
/// the log says which finding it was).
/// </summary>
internal sealed class GlueRunCounter
{
    private readonly IGlueTarget _target;
    private readonly SharedMemoryMap? _map;
    private readonly string _logPrefix;

    /// <param name="target">The target each run executes (one input per run).</param>
    /// <param name="map">Where the target's map is copied after each run, or null when the coverage writes the
    /// engine's map itself.</param>
    /// <param name="logPrefix">Names the bridge on crash lines ("afl", "libfuzzer").</param>
    public GlueRunCounter(IGlueTarget target, SharedMemoryMap? map, string logPrefix)
    {
        _target = target;
        _map = map;
        _logPrefix = logPrefix;
    }

    /// <summary>Executions served so far.</summary>
    public long Runs { get; private set; }

    /// <summary>Executions that answered a crash status.</summary>
    public long Crashes { get; private set; }

    public GlueVerdict Run(ReadOnlySpan<byte> input, TextWriter? log)
    {
        GlueVerdict verdict = _target.Run(input);
        _map?.Write(_target.Map);
        Runs++;
        if (verdict.Crashed)
        {
            Crashes++;
            log?.WriteLine($"{_logPrefix}: run {Runs}: {verdict.Finding} -> signal {verdict.WaitStatus}");
        }
        return verdict;
    }
}
