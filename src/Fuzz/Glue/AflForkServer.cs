using Sim.Engine;

namespace Virtsim.Fuzz.Glue;

/// <summary>
/// AFL++'s fork-server protocol, served without forking (persistent in-process execution, as SharpFuzz does for
/// .NET): afl-fuzz believes it talks to a fork server whose children run one input each.
/// <list type="number">
/// <item>Hello: 4 bytes on the status pipe (fd 199). We send 0, the classic form: AFL 2.x and AFL++ up to 4.04c
/// take any value without the <c>FS_OPT_ENABLED</c> bits as "no options, default 64 KiB map"; AFL++ 4.20+ still
/// accepts it ("old fork server model is used by the target, this still works though"). The newer
/// <c>0x41464c01</c> handshake would need a reply older afl-fuzz never sends, so we do not offer it.</item>
/// <item>Per run: afl-fuzz writes 4 bytes on the control pipe (fd 198: "the previous run timed out", ignored);
/// we answer a child pid (ours), run the input, copy the edge map into the shared map, then answer a
/// <c>waitpid</c> status: 0, or a signal number (<see cref="GlueVerdict"/>) so afl-fuzz files a crash.</item>
/// <item>The control pipe closing (afl-fuzz exiting) ends the loop.</item>
/// </list>
/// All integers are host-endian (little-endian on every platform .NET runs this on). afl-fuzz clears its map
/// before each run; a timeout makes it kill the "child", which is this process, so rely on our step budget
/// (hangs come back as SIGALRM crashes) and give afl-fuzz a generous <c>-t</c>.
/// </summary>
internal sealed class AflForkServer
{
    /// <summary>afl's <c>FORKSRV_FD</c>: control pipe (afl-fuzz → target); the status pipe is the next fd.</summary>
    public const int ControlFd = 198;

    public const int StatusFd = ControlFd + 1;

    /// <summary>Environment variable naming afl-fuzz's coverage segment (<c>SHM_ENV_VAR</c>).</summary>
    public const string ShmIdVariable = "__AFL_SHM_ID";

    /// <summary>Environment variable overriding afl-fuzz's map size (default <c>MAP_SIZE</c>, 64 KiB).</summary>
    public const string MapSizeVariable = "AFL_MAP_SIZE";

    public const int DefaultMapSize = 1 << 16;

    private readonly GlueWordPipe _pipe;
    private readonly GlueRunCounter _runs;
    private readonly AflInput _input;
    private readonly int _pid;

    public AflForkServer(
        IGlueTarget target,
        Stream control,
        Stream status,
        AflInput input,
        SharedMemoryMap map,
        int pid
    )
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        _pipe = new GlueWordPipe(control, status);
        _runs = new GlueRunCounter(target, map, "afl");
        _input = input;
        _pid = pid;
    }

    /// <summary>Executions served so far.</summary>
    public long Runs => _runs.Runs;

    /// <summary>Executions that answered a crash status.</summary>
    public long Crashes => _runs.Crashes;

    /// <summary>Where findings and protocol trouble are narrated (afl-fuzz discards it unless
    /// AFL_DEBUG_CHILD=1).</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Says hello and serves runs until afl-fuzz closes the control pipe (true) or the protocol breaks
    /// (false, <paramref name="error"/> says how).</summary>
    public bool Serve(out string? error)
    {
        if (!_pipe.TryWrite(0, out error))
            return false;
        while (true)
        {
            // The word itself ("the previous run timed out") needs no answer beyond the usual one.
            if (!_pipe.TryReadWord("message", out _, out error))
                return error == null;
            if (!_pipe.TryWrite(Narrow.AsUInt32Bits(_pid), out error))
                return false;
            if (!_input.TryRead(out ReadOnlyMemory<byte> input, out error))
                return false;
            GlueVerdict verdict = _runs.Run(input.Span, Log);
            if (!_pipe.TryWrite(Narrow.AsUInt32Bits(verdict.WaitStatus), out error))
                return false;
        }
    }
}
