using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using Sim.Devices;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Factorial;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The taint oracle (issue 12 item 2, uninitialised host bytes): C# zero-initialises, so a device that answers from
/// host bytes it never set for the request (the previous request's values, a header field never copied because the
/// guest's readable buffer was short) would answer zeros or stale values that look plausible. This oracle is the
/// device's <see cref="IHostPoison"/>: before each request the device's reused host buffers are filled with an
/// 8-byte pattern of this execution, and every completed chain's writable bytes (what the device answered in guest
/// memory) and every new device-log line are searched for it. Any 4 consecutive pattern bytes in guest memory
/// (<c>taint/guest-memory</c>), or a pattern word printed in the log as decimal, hex or <c>\xNN</c> escapes
/// (<c>taint/device-log</c>), is host data the request never set.
/// <para>
/// The pattern is derived from the input's bytes (so <c>--reproduce</c> poisons alike) with every byte in
/// 0x80..0xFF, and re-derived until none of its 4-byte windows occurs in the input: the guest cannot offer it
/// (its memory and disk bytes come from the input), so a match is the device's. Unlike the response oracle it needs
/// no reference model: it judges every chain, skipped or not, of every device that installs the hook.
/// </para>
/// </summary>
internal sealed class TaintOracle : IHostPoison, ICompletionObserver
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "taint";

    /// <summary>Consecutive pattern bytes that count as a leak (a u32 field).</summary>
    public const int Window = 4;

    /// <summary>Most writable bytes searched per chain.</summary>
    public const int BytesMax = 1 << 20;

    private readonly ICompletionObserver? _next;
    private readonly byte[] _pattern = new byte[8];
    private readonly uint[] _windows = new uint[8];
    private readonly string[] _logTokens = new string[8 * 4];
    private ulong _patternWord;
    private VirtioDevice? _device;
    private GuestMemory? _memory;
    private FuzzContext? _context;
    private int _logSeen;

    /// <param name="next">Told of every completion after this oracle (the response oracle).</param>
    public TaintOracle(ICompletionObserver? next = null) => _next = next;

    /// <summary>Chains searched since construction (all executions).</summary>
    public long SearchedTotal { get; private set; }

    /// <summary>The pattern of this execution (8 bytes, repeated).</summary>
    public ReadOnlySpan<byte> Pattern => _pattern;

    /// <summary>Starts an execution: derives the pattern from <paramref name="input"/> and installs itself as
    /// <paramref name="device"/>'s poison.</summary>
    public void Begin(VirtioDevice? device, ReadOnlySpan<byte> input, GuestMemory memory, FuzzContext? context)
    {
        _device = device;
        _memory = memory;
        _context = context;
        if (device is not null)
            device.Poison = this;
        ChoosePattern(input);
        _logSeen = LogLines(device)?.Count ?? 0;
    }

    public void Fill(Span<byte> buffer)
    {
        int whole = buffer.Length & ~7;
        MemoryMarshal.Cast<byte, ulong>(buffer[..whole]).Fill(_patternWord);
        for (int i = whole; i < buffer.Length; i++)
            buffer[i] = _pattern[i & 7];
    }

    public void OnCompleted(int head, uint usedLen, RangeList readable, RangeList writable, bool plain)
    {
        if (_device is not null && _memory is not null && _context is not null && writable.TotalLength() <= BytesMax)
        {
            SearchedTotal++;
            for (int i = 0; i < writable.Count && _context.Finding is null; i++)
            {
                GuestRange g = writable[i];
                if (!_memory.TryGetSpan(new GuestAddress(g.Start), g.Length, out Span<byte> bytes))
                    continue;
                int at = Find(bytes);
                if (at >= 0)
                {
                    _context.Report(
                        Oracle,
                        "taint/guest-memory",
                        string.Create(
                            CultureInfo.InvariantCulture,
                            $"head {head}: writable buffer {i} (0x{g.Start:x}+{g.Length}) holds poisoned host bytes at "
                                + $"offset {at}: the device answered from a buffer it never set for this request"
                        )
                    );
                }
            }
            SearchLog(head, readable);
        }
        _next?.OnCompleted(head, usedLen, readable, writable, plain);
    }

    /// <summary>Offset of the first <see cref="Window"/> consecutive pattern bytes in <paramref name="bytes"/>, or
    /// -1.</summary>
    public int Find(ReadOnlySpan<byte> bytes)
    {
        for (int i = 0; i + Window <= bytes.Length; i++)
        {
            if (bytes[i] < 0x80)
                continue; // every pattern byte has its high bit set
            uint w = BinaryPrimitives.ReadUInt32LittleEndian(bytes[i..]);
            if (Array.IndexOf(_windows, w) >= 0)
                return i;
        }
        return -1;
    }

    private void SearchLog(int head, RangeList readable)
    {
        IReadOnlyList<string>? log = LogLines(_device);
        if (log is null)
            return;
        if (_logSeen > log.Count)
            _logSeen = 0; // the log was cleared
        for (; _logSeen < log.Count && _context!.Finding is null; _logSeen++)
        {
            string line = log[_logSeen];
            for (int t = 0; t < _logTokens.Length; t++)
            {
                string token = _logTokens[t];
                if (!Printed(line, token, t % 4) || Offered(readable, _windows[t / 4]))
                    continue;
                _context.Report(
                    Oracle,
                    "taint/device-log",
                    $"head {head}: log line \"{line}\" prints poisoned host bytes ({token}): the device logged a value "
                        + "it never set for this request"
                );
                break;
            }
        }
    }

    /// <summary>True when <paramref name="line"/> prints <paramref name="token"/> as a whole number: a decimal token
    /// (<paramref name="kind"/> 0 unsigned, 1 signed) with no digit either side, a hex one (2) with no hex digit either
    /// side; <c>\xNN</c> escapes (3) anywhere. A bare substring test took the signed word of a pattern window such as
    /// FF FF FF FD ("-3") for the start of any other number ("get virtio num:-392417875"), the counter's false
    /// <c>taint/device-log</c> of issue 12 (seed 5, execution 17,061 on main 1922eba).</summary>
    internal static bool Printed(string line, string token, int kind)
    {
        for (int at = line.IndexOf(token, StringComparison.Ordinal); at >= 0; )
        {
            if (kind == 3)
                return true;
            int end = at + token.Length;
            bool hex = kind == 2;
            bool before = at > 0 && (hex ? char.IsAsciiHexDigit(line[at - 1]) : char.IsAsciiDigit(line[at - 1]));
            bool after = end < line.Length && (hex ? char.IsAsciiHexDigit(line[end]) : char.IsAsciiDigit(line[end]));
            if (!before && !after)
                return true;
            at = end < line.Length ? line.IndexOf(token, at + 1, StringComparison.Ordinal) : -1;
        }
        return false;
    }

    /// <summary>Provenance of a logged pattern word: true when the chain's device-readable bytes, read in order across
    /// its buffers as the device reads them (QEMU iov_to_buf), hold <paramref name="window"/>'s four bytes. The guest
    /// then offered the value itself, and the device logging it is right, however the bytes got there: a number
    /// assembled from two buffers, or from stores of different ops, is in no 4-byte window of the input, so choosing
    /// the pattern cannot rule it out (the false <c>taint/device-log</c> of issue 12's counter run). Runs only when a
    /// token matched; bounded by <see cref="BytesMax"/>.</summary>
    private bool Offered(RangeList readable, uint window)
    {
        if (_memory is null || readable.TotalLength() > BytesMax)
            return false;
        Span<byte> want = stackalloc byte[Window];
        BinaryPrimitives.WriteUInt32LittleEndian(want, window);
        // The last Window - 1 bytes of the buffers before, so a word split between two buffers is seen whole.
        Span<byte> carry = stackalloc byte[2 * Window];
        int kept = 0;
        for (int i = 0; i < readable.Count; i++)
        {
            GuestRange g = readable[i];
            if (!_memory.TryGetSpan(new GuestAddress(g.Start), g.Length, out Span<byte> bytes))
                return false;
            int head = Math.Min(bytes.Length, Window - 1);
            bytes[..head].CopyTo(carry[kept..]);
            if (carry[..(kept + head)].IndexOf(want) >= 0 || bytes.IndexOf(want) >= 0)
                return true;
            // What the next buffer continues: the last Window - 1 bytes of the stream so far.
            int total = kept + head;
            if (bytes.Length >= Window - 1)
            {
                bytes[^(Window - 1)..].CopyTo(carry);
                kept = Window - 1;
            }
            else
            {
                int drop = Math.Max(0, total - (Window - 1));
                carry[drop..total].CopyTo(carry);
                kept = total - drop;
            }
        }
        return false;
    }

    private static IReadOnlyList<string>? LogLines(VirtioDevice? device) =>
        device switch
        {
            VirtioDemoDevice d => d.Log.Lines,
            VirtioFactorialDevice f => f.Log.Lines,
            VirtioCounterDevice c => c.Log,
            _ => null,
        };

    /// <summary>FNV-1a of the input, then re-derived until no 4-byte window of the pattern occurs in the
    /// input.</summary>
    private void ChoosePattern(ReadOnlySpan<byte> input)
    {
        ulong h = 0xCBF2_9CE4_8422_2325;
        foreach (byte b in input)
            h = unchecked((h ^ b) * 0x0000_0100_0000_01B3);
        for (int attempt = 0; ; attempt++)
        {
            for (int k = 0; k < 8; k++)
                _pattern[k] = unchecked((byte)(0x80 | (h >> (8 * k))));
            SetWindows();
            if (attempt == 16 || Find(input) < 0)
                break;
            h = unchecked(h * 0x9E37_79B9_7F4A_7C15 + 1);
        }
        UsePattern(_pattern);
    }

    /// <summary>The pattern's eight 4-byte windows (little-endian, wrapping round the 8 bytes).</summary>
    private void SetWindows()
    {
        Span<byte> twice = stackalloc byte[16];
        _pattern.CopyTo(twice);
        _pattern.CopyTo(twice[8..]);
        for (int r = 0; r < 8; r++)
            _windows[r] = BinaryPrimitives.ReadUInt32LittleEndian(twice[r..]);
    }

    /// <summary>Makes <paramref name="pattern"/> (8 bytes, each 0x80..0xFF) this execution's pattern: its windows and
    /// log tokens. <see cref="Begin"/> derives it from the input; tests set one directly.</summary>
    internal void UsePattern(ReadOnlySpan<byte> pattern)
    {
        if (pattern.Length != _pattern.Length)
            throw new ArgumentException("the pattern is 8 bytes", nameof(pattern));
        pattern.CopyTo(_pattern);
        SetWindows();
        _patternWord = MemoryMarshal.Read<ulong>(_pattern);
        byte[] p = _pattern;
        for (int r = 0; r < 8; r++)
        {
            uint w = _windows[r];
            _logTokens[4 * r] = w.ToString(CultureInfo.InvariantCulture);
            _logTokens[4 * r + 1] = Narrow.AsInt32Bits(w).ToString(CultureInfo.InvariantCulture);
            _logTokens[4 * r + 2] = w.ToString("x8", CultureInfo.InvariantCulture);
            _logTokens[4 * r + 3] = string.Create(
                CultureInfo.InvariantCulture,
                $"\\x{p[r]:x2}\\x{p[(r + 1) & 7]:x2}\\x{p[(r + 2) & 7]:x2}\\x{p[(r + 3) & 7]:x2}"
            );
        }
    }
}
