namespace Virtsim.Fuzz.Glue;

/// <summary>
/// The .NET half of our libFuzzer bridge (tools/libfuzzer-driver): libFuzzer runs in a small C driver built with
/// <c>-fsanitize=fuzzer</c>, whose <c>LLVMFuzzerTestOneInput</c> forwards each input here and copies our edge
/// map from a shared segment into a <c>__libfuzzer_extra_counters</c> array, which libFuzzer reads as coverage.
/// Protocol (host-endian 32-bit words; the driver sets it up):
/// <list type="number">
/// <item>fd 200 (driver → us) and fd 201 (us → driver); <c>VIRTSIM_LIBFUZZER_SHM_ID</c> names the map segment.</item>
/// <item>Hello: we write <see cref="Magic"/> and our map size; the driver checks both.</item>
/// <item>Per input: the driver writes its length and bytes; we run it, copy the map, and write the
/// <c>waitpid</c>-style status (0 or a signal, <see cref="GlueVerdict"/>); the driver aborts on non-zero so
/// libFuzzer saves the crash.</item>
/// <item>The control pipe closing ends the loop.</item>
/// </list>
/// </summary>
public sealed class LibFuzzerPipeServer
{
    public const int ControlFd = 200;

    public const int StatusFd = 201;

    public const string ShmIdVariable = "VIRTSIM_LIBFUZZER_SHM_ID";

    /// <summary>Hello word: "VSL" in the high bytes, the protocol version (1) in the low byte.</summary>
    public const uint Magic = 0x4C53_5601;

    private readonly GlueWordPipe _pipe;
    private readonly GlueRunCounter _runs;
    private readonly SharedMemoryMap _map;
    private readonly byte[] _input = new byte[AflInput.InputBytesMax];

    public LibFuzzerPipeServer(IGlueTarget target, Stream control, Stream status, SharedMemoryMap map)
    {
        _pipe = new GlueWordPipe(control, status);
        _runs = new GlueRunCounter(target, map, "libfuzzer");
        _map = map;
    }

    public long Runs => _runs.Runs;

    public long Crashes => _runs.Crashes;

    public TextWriter? Log { get; init; }

    /// <summary>Says hello and serves inputs until the driver closes the control pipe (true) or the protocol
    /// breaks (false, with <paramref name="error"/>).</summary>
    public bool Serve(out string? error)
    {
        if (!_pipe.TryWrite(Magic, out error) || !_pipe.TryWrite((uint)_map.Size, out error)) return false;
        while (true)
        {
            if (!_pipe.TryReadWord("length", out uint length, out error)) return error == null;
            if (length > (uint)_input.Length)
            {
                error = $"input of {length} bytes exceeds {_input.Length} (InputBytesMax)";
                return false;
            }
            Span<byte> input = _input.AsSpan(0, (int)length);
            if (_pipe.Control.ReadAtLeast(input, input.Length, throwOnEndOfStream: false) < input.Length)
            {
                error = "control pipe closed mid-input";
                return false;
            }
            GlueVerdict verdict = _runs.Run(input, Log);
            if (!_pipe.TryWrite((uint)verdict.WaitStatus, out error)) return false;
        }
    }
}
