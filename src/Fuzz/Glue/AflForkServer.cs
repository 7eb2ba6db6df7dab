using System.Buffers.Binary;

namespace Fuzz.Glue;

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
public sealed class AflForkServer
{
    /// <summary>afl's <c>FORKSRV_FD</c>: control pipe (afl-fuzz → target); the status pipe is the next fd.</summary>
    public const int ControlFd = 198;

    public const int StatusFd = ControlFd + 1;

    /// <summary>Environment variable naming afl-fuzz's coverage segment (<c>SHM_ENV_VAR</c>).</summary>
    public const string ShmIdVariable = "__AFL_SHM_ID";

    /// <summary>Environment variable overriding afl-fuzz's map size (default <c>MAP_SIZE</c>, 64 KiB).</summary>
    public const string MapSizeVariable = "AFL_MAP_SIZE";

    public const int DefaultMapSize = 1 << 16;

    private readonly IGlueTarget _target;
    private readonly Stream _control;
    private readonly Stream _status;
    private readonly AflInput _input;
    private readonly SharedMemoryMap _map;
    private readonly int _pid;
    private readonly byte[] _word = new byte[4];

    public AflForkServer(IGlueTarget target, Stream control, Stream status, AflInput input, SharedMemoryMap map, int pid)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        _target = target;
        _control = control;
        _status = status;
        _input = input;
        _map = map;
        _pid = pid;
    }

    /// <summary>Executions served so far.</summary>
    public long Runs { get; private set; }

    /// <summary>Executions that answered a crash status.</summary>
    public long Crashes { get; private set; }

    /// <summary>Where findings and protocol trouble are narrated (afl-fuzz discards it unless AFL_DEBUG_CHILD=1).</summary>
    public TextWriter? Log { get; init; }

    /// <summary>Says hello and serves runs until afl-fuzz closes the control pipe (true) or the protocol breaks
    /// (false, <paramref name="error"/> says how).</summary>
    public bool Serve(out string? error)
    {
        if (!TryWrite(0, out error)) return false;
        while (true)
        {
            int got = _control.ReadAtLeast(_word, 4, throwOnEndOfStream: false);
            if (got == 0)
            {
                error = null;
                return true;
            }
            if (got < 4)
            {
                error = $"control pipe closed mid-message ({got} of 4 bytes)";
                return false;
            }
            if (!TryWrite(_pid, out error)) return false;
            if (!_input.TryRead(out ReadOnlyMemory<byte> input, out error)) return false;
            GlueVerdict verdict = _target.Run(input.Span);
            _map.Write(_target.Map);
            Runs++;
            if (verdict.Crashed)
            {
                Crashes++;
                Log?.WriteLine($"afl: run {Runs}: {verdict.Finding} -> signal {verdict.WaitStatus}");
            }
            if (!TryWrite(verdict.WaitStatus, out error)) return false;
        }
    }

    private bool TryWrite(int value, out string? error)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_word, value);
        try
        {
            _status.Write(_word);
            _status.Flush();
            error = null;
            return true;
        }
        catch (IOException e)
        {
            error = "status pipe closed: " + e.Message;
            return false;
        }
    }
}
