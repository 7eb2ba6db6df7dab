using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Sim.Engine;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// QEMU's qtest protocol (softmmu/qtest.c) over the process's stdin/stdout: one command per line, one answer line
/// per command (<c>OK</c>, <c>OK value</c>, or <c>FAIL …</c>/<c>ERR …</c>). Commands are batched: <see cref="Queue"/>
/// appends, and the answers are read only when a value is needed (<see cref="Query"/>) or at <see cref="Sync"/>, so a
/// run of writes costs one pipe write. An answer that does not come within <see cref="Timeout"/> is a hang
/// (<see cref="QemuHangException"/>); end of stream is a dead QEMU (<see cref="QemuDiedException"/>). Answers are read
/// synchronously on the calling thread (a thread-pool hop per round trip cost more than the round trip itself); a
/// watchdog timer checks the wait every <see cref="WatchdogPeriod"/> and, past <see cref="Timeout"/>, calls the
/// owner's stop action (which kills QEMU, so the blocked read returns).
/// Every command sent is also appended to <see cref="Script"/> while it is set: the reproducer's qtest script.
/// </summary>
internal sealed class QtestClient : IDisposable
{
    /// <summary>How often the watchdog looks at a pending read.</summary>
    public static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMilliseconds(250);

    private readonly Action _stop;
    private readonly Timer _watchdog;
    private long _waitingSince;
    private volatile bool _timedOut;
    private readonly Stream _toQemu;
    private readonly Stream _fromQemu;
    private readonly StringBuilder _batch = new();
    private byte[] _receive = new byte[256 * 1024];
    private int _start;
    private int _end;
    private int _pending;

    /// <param name="toQemu">The qtest socket's write side (commands, one per line).</param>
    /// <param name="fromQemu">The qtest socket's read side (answers <c>OK ...</c> / <c>FAIL ...</c>).</param>
    /// <param name="timeout">How long an answer may take before <paramref name="stop"/> is called.</param>
    /// <param name="stop">Called (on a timer thread) when an answer is overdue: must end QEMU so the read
    /// returns.</param>
    public QtestClient(Stream toQemu, Stream fromQemu, TimeSpan timeout, Action stop)
    {
        _toQemu = toQemu;
        _fromQemu = fromQemu;
        Timeout = timeout;
        _stop = stop;
        _watchdog = new Timer(_ => Watch(), null, WatchdogPeriod, WatchdogPeriod);
    }

    private void Watch()
    {
        long since = Interlocked.Read(ref _waitingSince);
        if (since == 0 || _timedOut || Environment.TickCount64 - since <= (long)Timeout.TotalMilliseconds)
            return;
        _timedOut = true;
        _stop();
    }

    public void Dispose() => _watchdog.Dispose();

    /// <summary>How long one answer may take before QEMU counts as hung.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>When set, every command is appended here (one per line).</summary>
    public StringBuilder? Script { get; set; }

    /// <summary>Answers that were not <c>OK</c>, since the last <see cref="TakeFailures"/> (qtest refusing a command
    /// is data: an address it cannot access).</summary>
    public int Failures { get; private set; }

    /// <summary>Times this client waited for QEMU's answers (one per <see cref="Sync"/> or query with answers
    /// outstanding): the cost that dominates on a loaded machine, for the exec/s report.</summary>
    public long RoundTrips { get; private set; }

    /// <summary>Commands sent so far.</summary>
    public long Commands { get; private set; }

    public int TakeFailures()
    {
        int f = Failures;
        Failures = 0;
        return f;
    }

    /// <summary>Appends a command whose answer is only checked for <c>OK</c>.</summary>
    public void Queue(string command)
    {
        _batch.Append(command).Append('\n');
        Script?.Append(command).Append('\n');
        _pending++;
        Commands++;
    }

    public void Outl(ushort port, uint value) =>
        Queue(string.Create(CultureInfo.InvariantCulture, $"outl 0x{port:x} 0x{value:x}"));

    public void Write(ulong address, int size, ulong value)
    {
        string op = size switch
        {
            1 => "writeb",
            2 => "writew",
            4 => "writel",
            _ => "writeq",
        };
        Queue(string.Create(CultureInfo.InvariantCulture, $"{op} 0x{address:x} 0x{value:x}"));
    }

    /// <summary>Guest-memory bytes (<c>write ADDR SIZE 0xHEX</c>).</summary>
    public void WriteBytes(ulong address, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty)
            return;
        Queue(
            string.Create(
                CultureInfo.InvariantCulture,
                $"write 0x{address:x} 0x{data.Length:x} 0x{Convert.ToHexStringLower(data)}"
            )
        );
    }

    public void Memset(ulong address, ulong size, byte value) =>
        Queue(string.Create(CultureInfo.InvariantCulture, $"memset 0x{address:x} 0x{size:x} 0x{value:x}"));

    /// <summary>Sends the batch and reads every outstanding answer.</summary>
    public void Sync()
    {
        Send();
        SkipAnswersBefore(0);
    }

    /// <summary>Runs a command that answers <c>OK 0xVALUE</c> (inb/inw/inl, readb/w/l/q) and returns the value;
    /// a refused one reads as all ones (what a bus with nothing there returns).</summary>
    public ulong Query(string command)
    {
        Queue(command);
        Send();
        SkipAnswersBefore(1);
        return ReadValue();
    }

    /// <summary>Several value commands in one round trip (after whatever is batched); a refused one reads as all
    /// ones.</summary>
    public ulong[] QueryAll(params string[] commands)
    {
        foreach (string c in commands)
            Queue(c);
        Send();
        return ReadValues(commands.Length, trailing: 0);
    }

    /// <summary>Reads the answers of the batch sent: those of earlier queued commands (an OK each, a refusal
    /// counted), then <paramref name="count"/> value answers (a refused one reads as all ones), leaving
    /// <paramref name="trailing"/> answers after them unread.</summary>
    private ulong[] ReadValues(int count, int trailing)
    {
        SkipAnswersBefore(count + trailing);
        ulong[] values = new ulong[count];
        for (int i = 0; i < count; i++)
            values[i] = ReadValue();
        return values;
    }

    /// <summary>Reads the <c>OK</c> answers of queued commands until <paramref name="keep"/> are left unread (a
    /// refusal counted).</summary>
    private void SkipAnswersBefore(int keep)
    {
        while (_pending > keep)
        {
            if (!ReadLine().StartsWith("OK"u8))
                Failures++;
            _pending--;
        }
    }

    /// <summary>One <c>OK 0xVALUE</c> answer; a refused one reads as all ones (what a bus with nothing there
    /// returns).</summary>
    private ulong ReadValue()
    {
        ReadOnlySpan<byte> answer = ReadLine();
        _pending--;
        if (
            answer.StartsWith("OK 0x"u8)
            && ulong.TryParse(
                answer[5..],
                NumberStyles.AllowHexSpecifier,
                CultureInfo.InvariantCulture,
                out ulong value
            )
        )
        {
            return value;
        }
        Failures++;
        return ulong.MaxValue;
    }

    /// <summary>One <c>b64read</c> answer decoded into <paramref name="destination"/>; false when qtest refused or the
    /// length differs.</summary>
    private bool ReadBytesAnswer(Span<byte> destination)
    {
        ReadOnlySpan<byte> answer = ReadLine();
        _pending--;
        return answer.StartsWith("OK "u8)
            && Base64.DecodeFromUtf8(answer[3..], destination, out _, out int written) == OperationStatus.Done
            && written == destination.Length;
    }

    public uint Inl(ushort port) =>
        Narrow.LowUInt32(Query(string.Create(CultureInfo.InvariantCulture, $"inl 0x{port:x}")));

    public ulong Read(ulong address, int size)
    {
        string op = size switch
        {
            1 => "readb",
            2 => "readw",
            4 => "readl",
            _ => "readq",
        };
        return Query(string.Create(CultureInfo.InvariantCulture, $"{op} 0x{address:x}"));
    }

    /// <summary><see cref="QueryAll"/> and <see cref="ReadBytes"/> in one round trip: the values of
    /// <paramref name="commands"/>, then guest memory through <c>b64read</c> (<paramref name="bytesRead"/> false when
    /// qtest refused).</summary>
    public ulong[] QueryAllThenBytes(string[] commands, ulong address, Span<byte> destination, out bool bytesRead)
    {
        ArgumentNullException.ThrowIfNull(commands);
        foreach (string c in commands)
            Queue(c);
        Queue(string.Create(CultureInfo.InvariantCulture, $"b64read 0x{address:x} 0x{destination.Length:x}"));
        Send();
        ulong[] values = ReadValues(commands.Length, trailing: 1);
        bytesRead = ReadBytesAnswer(destination);
        return values;
    }

    /// <summary>Guest-memory bytes through <c>b64read</c>; false when qtest refused.</summary>
    public bool ReadBytes(ulong address, Span<byte> destination)
    {
        QueryAllThenBytes([], address, destination, out bool read);
        return read;
    }

    private void Send()
    {
        if (_pending > 0)
            RoundTrips++;
        if (_batch.Length == 0)
            return;
        byte[] bytes = Encoding.ASCII.GetBytes(_batch.ToString());
        _batch.Clear();
        try
        {
            _toQemu.Write(bytes);
            _toQemu.Flush();
        }
        catch (IOException e)
        {
            throw new QemuDiedException("QEMU closed its qtest input: " + e.Message);
        }
    }

    /// <summary>The next answer line (without the newline); valid until the next read.</summary>
    private ReadOnlySpan<byte> ReadLine()
    {
        while (true)
        {
            int newline = _receive.AsSpan(_start, _end - _start).IndexOf((byte)'\n');
            if (newline >= 0)
            {
                ReadOnlySpan<byte> line = _receive.AsSpan(_start, newline);
                _start += newline + 1;
                return line;
            }
            Fill();
        }
    }

    private void Fill()
    {
        if (_start > 0)
        {
            _receive.AsSpan(_start, _end - _start).CopyTo(_receive);
            _end -= _start;
            _start = 0;
        }
        if (_end == _receive.Length)
            Array.Resize(ref _receive, _receive.Length * 2);
        int n;
        Interlocked.Exchange(ref _waitingSince, Environment.TickCount64);
        try
        {
            n = _fromQemu.Read(_receive, _end, _receive.Length - _end);
        }
        catch (IOException e)
        {
            n = _timedOut ? 0 : throw new QemuDiedException("reading QEMU's qtest output failed: " + e.Message);
        }
        finally
        {
            Interlocked.Exchange(ref _waitingSince, 0);
        }
        if (_timedOut)
            throw new QemuHangException($"QEMU did not answer a qtest command within {Timeout.TotalMilliseconds:0} ms");
        if (n == 0)
            throw new QemuDiedException("QEMU closed its qtest output (it exited)");
        _end += n;
    }
}
