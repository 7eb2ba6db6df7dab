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
            SearchLog(head);
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

    private void SearchLog(int head)
    {
        IReadOnlyList<string>? log = LogLines(_device);
        if (log is null)
            return;
        if (_logSeen > log.Count)
            _logSeen = 0; // the log was cleared
        for (; _logSeen < log.Count && _context!.Finding is null; _logSeen++)
        {
            string line = log[_logSeen];
            foreach (string token in _logTokens)
            {
                if (!line.Contains(token, StringComparison.Ordinal))
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
            for (int r = 0; r < 8; r++)
            {
                _windows[r] = unchecked(
                    (uint)(
                        _pattern[r]
                        | _pattern[(r + 1) & 7] << 8
                        | _pattern[(r + 2) & 7] << 16
                        | _pattern[(r + 3) & 7] << 24
                    )
                );
            }
            if (attempt == 16 || Find(input) < 0)
                break;
            h = unchecked(h * 0x9E37_79B9_7F4A_7C15 + 1);
        }
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
