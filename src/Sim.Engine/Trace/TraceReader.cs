using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;
using MessagePack;
using Sim.Engine.Trace.Codec;

namespace Sim.Engine.Trace;

/// <summary>
/// Reads a trace (traces/README.md) as a stream: <see cref="TryOpen"/> decodes the header, then
/// <see cref="TryReadInitialMemory"/> (optional) loads the initial pages, then
/// <see cref="TryReadNext"/> pulls one event at a time until the footer. Decoding is MessagePack-CSharp's
/// low-level <see cref="MessagePackReader"/> over a window of the stream (<see cref="TraceInput"/>): an
/// object that ends beyond the window is decoded again once more bytes arrived, up to a named cap. The
/// bytes are untrusted: every failure, including the library's exceptions, becomes a
/// <see cref="TraceError"/> with the byte offset and what was expected there; lengths, counts and
/// nesting depth are capped here (<see cref="TraceFormat"/>, <see cref="DepthMax"/>), and decompression
/// writes only into the caller's memory or one scratch chunk. Reading an event allocates nothing:
/// <see cref="TraceEvent.Data"/> points into the window until the next call.
/// </summary>
public sealed partial class TraceReader : IDisposable
{
    private enum Stage : byte
    {
        Memory,
        Events,
        Complete,
        Failed,
    }

    /// <summary>Deepest nesting of arrays and maps skipped in an unknown header key's value.</summary>
    public const int DepthMax = 64;

    /// <summary>Longest event array before its data: fixarray + five integers of at most 9 bytes each
    /// (uint 64 or int 64, whatever the field's range) + bin 32 header (5).</summary>
    private const int EventHeadBytesMax = 1 + (5 * 9) + 5;

    private const byte EventArrayCode = MsgPackCode.FixArrayMin + TraceFormat.EventFields;

    private static readonly UTF8Encoding StrictUtf8 = new(
        encoderShouldEmitUTF8Identifier: false,
        throwOnInvalidBytes: true
    );

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly TraceInput _input;
    private readonly ulong[] _counts = new ulong[TraceFormat.KindsMax];
    private TraceEventHash _hash = new();
    private Stage _stage;
    private long _lastTime;
    private long _checkpointEvery;
    private long _sinceCheckpoint;

    /// <summary>Where (relative to the object being decoded) and what the value being read is: the
    /// library's exceptions are translated with them.</summary>
    private long _markAt;
    private string _markWhat = "";

    private TraceReader(Stream stream, bool leaveOpen)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
        _input = new TraceInput(stream);
        Header = null!;
    }

    /// <summary>The decoded header.</summary>
    public TraceHeader Header { get; private set; }

    /// <summary>Content hash of the initial memory, as the trace states it.</summary>
    public ulong InitialMemoryHash { get; private set; }

    /// <summary>Number of memory chunks the trace declares.</summary>
    public long MemoryChunks { get; private set; }

    /// <summary>The footer, once <see cref="TryReadNext"/> has reached and verified it.</summary>
    public TraceFooter? Footer { get; private set; }

    /// <summary>The first failure; sticky.</summary>
    public TraceError? Error { get; private set; }

    /// <summary>Events returned so far (the index of the next one).</summary>
    public ulong EventsRead { get; private set; }

    /// <summary>Running <see cref="TraceEventHash"/> of the events returned so far.</summary>
    public ulong EventHash => _hash.Value;

    /// <summary>Absolute byte offset of the next unread byte.</summary>
    public long Offset => _input.Offset;

    /// <summary>True once the footer was read and verified.</summary>
    [MemberNotNullWhen(true, nameof(Footer))]
    public bool IsComplete => Footer is not null;

    /// <summary>Decodes the header and the memory map. On failure the stream is left as it is
    /// (disposed unless <paramref name="leaveOpen"/>).</summary>
    public static bool TryOpen(
        Stream stream,
        [NotNullWhen(true)] out TraceReader? reader,
        [NotNullWhen(false)] out TraceError? error,
        bool leaveOpen = false
    )
    {
        ArgumentNullException.ThrowIfNull(stream);
        var r = new TraceReader(stream, leaveOpen);
        if (
            r.TryDecode(r.DecodeHeader, TraceFormat.HeaderBytesMax, "header")
            && r.TryDecode(r.DecodeMemoryMap, TraceFormat.HeaderBytesMax, "memory map")
        )
        {
            reader = r;
            error = null;
            return true;
        }
        reader = null;
        error = r.Error!;
        r.Dispose();
        return false;
    }

    /// <summary>Closes the stream unless the reader was told to leave it open.</summary>
    public void Dispose()
    {
        if (!_leaveOpen)
            _stream.Dispose();
    }

    // ---------------------------------------------------------------- decoding and errors

    private delegate bool Decoder(ref MessagePackReader r);

    /// <summary>Decodes one object with <paramref name="decode"/> over the window and consumes it. An
    /// object that runs past the window is decoded again with more bytes, up to
    /// <paramref name="bytesMax"/>; the library's exceptions become errors at the marked value.</summary>
    private bool TryDecode(Decoder decode, int bytesMax, string context)
    {
        if (_stage == Stage.Failed)
            return false;
        long start = _input.Offset;
        int want = Math.Min(bytesMax, TraceInput.BufferBytesInitial);
        while (true)
        {
            _input.Fill(want);
            if (_input.IoError is { } io)
                return Fail(
                    TraceErrorKind.Io,
                    _input.Offset + _input.Available,
                    "readable bytes",
                    "I/O error: " + io,
                    context
                );
            if (_input.Available == 0)
                return Fail(TraceErrorKind.Truncated, start, context, "end of stream", context);
            var r = new MessagePackReader(_input.Window);
            (_markAt, _markWhat) = (0, context);
            try
            {
                if (!decode(ref r))
                    return false;
                _input.Advance(r.Consumed);
                return true;
            }
            catch (EndOfStreamException)
            {
                if (_input.EndOfStream)
                    return Fail(
                        TraceErrorKind.Truncated,
                        start + _markAt,
                        _markWhat,
                        $"end of stream ({_input.Available - _markAt} bytes left)",
                        context
                    );
                if (_input.Available >= bytesMax)
                    return Fail(
                        TraceErrorKind.LimitExceeded,
                        start,
                        $"{context} of at most {bytesMax} bytes",
                        "a longer one",
                        context
                    );
                want = checked((int)Math.Min(bytesMax, Math.Max(want * 2L, _input.Available + 1L)));
            }
            catch (Exception e)
                when (e
                        is MessagePackSerializationException
                            or OverflowException
                            or ArgumentException
                            or InvalidOperationException
                )
            {
                return FailFound(start + _markAt, _markWhat, context, e);
            }
        }
    }

    /// <summary>Notes the value about to be read (for error messages).</summary>
    private void Mark(ref MessagePackReader r, string what) => (_markAt, _markWhat) = (r.Consumed, what);

    private bool Fail(TraceErrorKind kind, long offset, string expected, string found, string context)
    {
        string suffix =
            kind == TraceErrorKind.Truncated
                ? "; the trace is truncated" + (_stage is Stage.Events ? " (no footer)" : "")
                : "";
        Error ??= new TraceError(
            kind,
            offset,
            $"byte {offset}: expected {expected}, found {found} (in {context}){suffix}"
        );
        _stage = Stage.Failed;
        return false;
    }

    /// <summary>A value of the wrong type or range: names the code byte found there and the library's reason.</summary>
    private bool FailFound(long offset, string expected, string context, Exception e)
    {
        long rel = offset - _input.Offset;
        string found = rel >= 0 && rel < _input.Available ? Describe(_input.Span[checked((int)rel)]) : "a bad value";
        if (found.StartsWith("reserved", StringComparison.Ordinal))
            found = "reserved byte 0xc1";
        return Fail(TraceErrorKind.Malformed, offset, expected, $"{found} ({e.Message.TrimEnd('.')})", context);
    }

    private static string Quote(string s) => s.Length <= 64 ? $"\"{s}\"" : $"\"{s[..64]}...\"";

    /// <summary>"map (0x81)", "uint (0xce)": names a code byte for error messages.</summary>
    public static string Describe(byte code) => MsgPackCode.Describe(code);

    // ---------------------------------------------------------------- typed reads (marked)

    private ulong ReadUInt64(ref MessagePackReader r, string what)
    {
        Mark(ref r, what);
        return r.ReadUInt64();
    }

    private long ReadInt64(ref MessagePackReader r, string what)
    {
        Mark(ref r, what);
        return r.ReadInt64();
    }

    private int ReadArrayHeader(ref MessagePackReader r, string what)
    {
        Mark(ref r, what);
        int n = r.ReadArrayHeader();
        // MessagePack-CSharp 2.5 turns an array 32 count of 2^31 or more into a negative int.
        return n >= 0 ? n : throw new MessagePackSerializationException($"a count of {Narrow.AsUInt32Bits(n)}");
    }

    private int ReadMapHeader(ref MessagePackReader r, string what)
    {
        Mark(ref r, what);
        int n = r.ReadMapHeader();
        return n >= 0 ? n : throw new MessagePackSerializationException($"a count of {Narrow.AsUInt32Bits(n)}");
    }

    /// <summary>The length a str, bin or ext header at <paramref name="at"/> (relative to the window)
    /// declares, read here rather than by the library (MessagePack-CSharp 2.5 turns 32-bit lengths of 2^31
    /// or more negative and then fails with an ArgumentOutOfRangeException); -1 for other codes or a cut
    /// header.</summary>
    private long DeclaredLength(long at)
    {
        ReadOnlySpan<byte> w = _input.Span;
        if (at >= w.Length)
            return -1;
        int i = checked((int)at);
        byte code = w[i];
        int size = code switch
        {
            >= MsgPackCode.FixStrMin and <= MsgPackCode.FixStrMax => 0,
            MsgPackCode.Str8 or MsgPackCode.Bin8 or MsgPackCode.Ext8 => 1,
            MsgPackCode.Str16 or MsgPackCode.Bin16 or MsgPackCode.Ext16 => 2,
            MsgPackCode.Str32 or MsgPackCode.Bin32 or MsgPackCode.Ext32 => 4,
            _ => -1,
        };
        if (size < 0 || i + 1 + size > w.Length)
            return -1;
        return size switch
        {
            0 => code & 0x1f,
            1 => w[i + 1],
            2 => BinaryPrimitives.ReadUInt16BigEndian(w[(i + 1)..]),
            _ => BinaryPrimitives.ReadUInt32BigEndian(w[(i + 1)..]),
        };
    }

    /// <summary>A str of at most <see cref="TraceFormat.HeaderStringBytesMax"/> bytes of valid UTF-8.</summary>
    private string? ReadString(ref MessagePackReader r, string what, string context)
    {
        Mark(ref r, what);
        if (r.NextMessagePackType != MessagePackType.String)
            throw new MessagePackSerializationException("not a str");
        long at = r.Consumed;
        long declared = DeclaredLength(at);
        if (declared > TraceFormat.HeaderStringBytesMax)
        {
            Fail(
                TraceErrorKind.LimitExceeded,
                _input.Offset + at,
                $"str of at most {TraceFormat.HeaderStringBytesMax} bytes",
                $"{declared} bytes",
                context
            );
            return null;
        }
        if (!r.TryReadStringSpan(out ReadOnlySpan<byte> utf8))
        {
            ReadOnlySequence<byte>? sequence = r.ReadStringSequence();
            utf8 = sequence.HasValue ? sequence.Value.FirstSpan : default;
        }
        if (utf8.Length > TraceFormat.HeaderStringBytesMax)
        {
            Fail(
                TraceErrorKind.LimitExceeded,
                _input.Offset + at,
                $"str of at most {TraceFormat.HeaderStringBytesMax} bytes",
                $"{utf8.Length} bytes",
                context
            );
            return null;
        }
        return StrictUtf8.GetString(utf8);
    }

    /// <summary>Skips any value, walking nested arrays and maps itself so that their depth is capped.</summary>
    private bool TrySkip(ref MessagePackReader r, string context, int depth = 1)
    {
        MessagePackType type = r.NextMessagePackType;
        if (type is not (MessagePackType.Array or MessagePackType.Map))
        {
            Mark(ref r, "a value");
            long declared = DeclaredLength(r.Consumed);
            if (declared > TraceFormat.HeaderBytesMax)
                return Fail(
                    TraceErrorKind.LimitExceeded,
                    _input.Offset + r.Consumed,
                    $"a value of at most {TraceFormat.HeaderBytesMax} bytes",
                    $"{declared} bytes",
                    context
                );
            r.Skip();
            return true;
        }
        long at = r.Consumed;
        if (depth > DepthMax)
            return Fail(
                TraceErrorKind.LimitExceeded,
                _input.Offset + at,
                $"nesting of at most {DepthMax} arrays and maps",
                "deeper nesting",
                context
            );
        long items = type == MessagePackType.Array ? ReadArrayHeader(ref r, "array") : 2L * ReadMapHeader(ref r, "map");
        for (long i = 0; i < items; i++)
        {
            if (!TrySkip(ref r, context, depth + 1))
                return false;
        }
        return true;
    }

    // ---------------------------------------------------------------- events

    /// <summary>
    /// The next event: true with <paramref name="ev"/> set (its data valid until the next call).
    /// False with <paramref name="error"/> null when the footer was reached and verified
    /// (<see cref="Footer"/>); false with <paramref name="error"/> set on failure — including
    /// <see cref="TraceErrorKind.Truncated"/> for a trace that ends without a footer.
    /// Checks (and skips) the initial memory if <see cref="TryReadInitialMemory"/> was not called.
    /// </summary>
    public bool TryReadNext(out TraceEvent ev, out TraceError? error)
    {
        ev = default;
        if (_stage != Stage.Events && !TryEnterEvents())
        {
            error = Error;
            return false;
        }
        int want = EventHeadBytesMax;
        while (true)
        {
            _input.Fill(want);
            ReadOnlySpan<byte> window = _input.Span;
            // The common case, decoded straight from the window's bytes; anything else (an event running past the
            // window, an unusual encoding, an error) goes the MessagePack-CSharp way (DecodeEventGeneral).
            if (EventArrayDecoder.TryDecode(window, out DecodedEvent decoded, out int eventBytes))
            {
                ReadOnlySpan<byte> eventData = window.Slice(decoded.DataAt, decoded.DataLength);
                return Accept(
                    checked((ulong)decoded.Kind),
                    decoded.Source,
                    decoded.Delta,
                    decoded.Address,
                    decoded.Value,
                    eventData,
                    eventBytes,
                    out ev,
                    out error
                );
            }
            if (window.Length == 0 || window[0] != EventArrayCode)
                return TryReadNextSlow(out error);
            GeneralDecode step = DecodeEventGeneral(window, ref want, out ev, out error);
            if (step != GeneralDecode.ReadOn)
                return step == GeneralDecode.Event;
        }
    }

    /// <summary>How <see cref="DecodeEventGeneral"/> ended.</summary>
    private enum GeneralDecode : byte
    {
        /// <summary>An event was decoded and accepted.</summary>
        Event,

        /// <summary>The trace failed here (<see cref="Error"/> is set).</summary>
        Failure,

        /// <summary>The event runs past the window: fill more and decode it again.</summary>
        ReadOn,
    }

    /// <summary>
    /// An event array (the fixarray of <see cref="TraceFormat.EventFields"/> at the window's start) that
    /// <see cref="EventArrayDecoder"/> declined, decoded field by field with MessagePack-CSharp's reader: each
    /// field is marked before it is read, so the library's exceptions become a <see cref="TraceError"/> naming it.
    /// <see cref="GeneralDecode.ReadOn"/> when the event runs past the window, with <paramref name="want"/> set to
    /// the bytes to fill before the next try (at most the capped data length more, so the loop is bounded).
    /// Out of line: the common path above keeps no exception handling.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private GeneralDecode DecodeEventGeneral(
        ReadOnlySpan<byte> window,
        scoped ref int want,
        out TraceEvent ev,
        out TraceError? error
    )
    {
        ev = default;
        error = null;
        var r = new MessagePackReader(_input.Window);
        long at = 0;
        string what = "event array";
        try
        {
            r.ReadArrayHeader();
            (at, what) = (r.Consumed, "event kind (uint 0..255)");
            ulong kind = r.ReadUInt64();
            (at, what) = (r.Consumed, "event time delta (int 64)");
            long delta = r.ReadInt64();
            (at, what) = (r.Consumed, "event source (uint 32)");
            uint source = r.ReadUInt32();
            (at, what) = (r.Consumed, "event address (uint 64)");
            ulong address = r.ReadUInt64();
            (at, what) = (r.Consumed, "event value (uint 64)");
            ulong value = r.ReadUInt64();
            (at, what) = (r.Consumed, "event data (bin)");
            if (!TryCheckEventHead(kind, window, checked((int)at), out long dataLength, out int headerBytes, out error))
                return GeneralDecode.Failure;
            long needed = at + headerBytes + dataLength;
            if ((dataLength == BinHeaderCut || needed > window.Length) && !_input.EndOfStream)
            {
                want = checked((int)Math.Max(needed, window.Length + 1L));
                return GeneralDecode.ReadOn;
            }
            ReadOnlySequence<byte> data = r.ReadBytes()
                ?? throw new MessagePackSerializationException("nil, not a bin");
            return Accept(kind, source, delta, address, value, data.FirstSpan, r.Consumed, out ev, out error)
                ? GeneralDecode.Event
                : GeneralDecode.Failure;
        }
        catch (EndOfStreamException)
        {
            // The window held EventHeadBytesMax bytes, or all that was left: the stream ended inside the event.
            FailTruncatedEvent(_input.Offset + at, what);
        }
        catch (Exception e) when (e is MessagePackSerializationException or OverflowException)
        {
            FailFound(_input.Offset + at, what, $"event {EventsRead}", e);
        }
        error = Error;
        return GeneralDecode.Failure;
    }

    /// <summary>The limits on an event's head, checked before its data is read: the kind (one byte's range,
    /// <see cref="TraceFormat.KindsMax"/>) and the data's bin header at <paramref name="at"/>, whose length
    /// (<see cref="BinLength"/>: or <see cref="BinHeaderCut"/>) is at most <see cref="TraceFormat.EventDataBytesMax"/>.
    /// Throws MessagePack's exception for data that is not a bin, as the reader would.</summary>
    private bool TryCheckEventHead(
        ulong kind,
        ReadOnlySpan<byte> window,
        int at,
        out long dataLength,
        out int headerBytes,
        out TraceError? error
    )
    {
        dataLength = 0;
        headerBytes = 0;
        if (kind >= TraceFormat.KindsMax)
            return FailEvent(TraceErrorKind.Malformed, _input.Offset, "event kind in [0, 255]", $"{kind}", out error);
        dataLength = BinLength(window, at, out headerBytes);
        if (dataLength > TraceFormat.EventDataBytesMax)
            return FailEvent(
                TraceErrorKind.LimitExceeded,
                _input.Offset,
                $"event data of at most {TraceFormat.EventDataBytesMax} bytes",
                $"{dataLength} bytes",
                out error
            );
        if (dataLength == NotBin)
            throw new MessagePackSerializationException("not a bin");
        error = null;
        return true;
    }

    /// <summary>The stream ended inside an event, at <paramref name="offset"/> where <paramref name="what"/> was
    /// expected: the trace is truncated. Sticky, as every failure.</summary>
    private void FailTruncatedEvent(long offset, string what)
    {
        Error ??= new TraceError(
            TraceErrorKind.Truncated,
            offset,
            $"byte {offset}: expected {what}, found end of stream (in event {EventsRead}); "
                + $"the trace is truncated (no footer)"
        );
        _stage = Stage.Failed;
    }

    /// <summary>Takes the decoded event of <paramref name="consumed"/> bytes at the window's start: checks its place
    /// against the periodic checkpoints, then advances, counts and hashes it.</summary>
    private bool Accept(
        ulong kind,
        uint source,
        long delta,
        ulong address,
        ulong value,
        ReadOnlySpan<byte> data,
        long consumed,
        out TraceEvent ev,
        out TraceError? error
    )
    {
        ev = default;
        if (_checkpointEvery != 0 && !TryPlaceCheckpoint(kind, source, _input.Offset, out error))
            return false;
        long time = unchecked(_lastTime + delta);
        ev = new TraceEvent((TraceEventKind)kind, time, source, address, value, data);
        _input.Advance(consumed);
        _lastTime = time;
        _counts[kind]++;
        _hash.Add(ev);
        EventsRead++;
        error = null;
        return true;
    }

    private const long NotBin = -1;
    private const long BinHeaderCut = -2;

    /// <summary>Length of the bin whose header starts at <paramref name="at"/>; <see cref="NotBin"/>, or
    /// <see cref="BinHeaderCut"/> when the header runs past the window.</summary>
    private static long BinLength(ReadOnlySpan<byte> window, int at, out int headerBytes)
    {
        headerBytes = 0;
        if (at >= window.Length)
            return BinHeaderCut;
        headerBytes = window[at] switch
        {
            MsgPackCode.Bin8 => 2,
            MsgPackCode.Bin16 => 3,
            MsgPackCode.Bin32 => 5,
            _ => 0,
        };
        if (headerBytes == 0)
            return NotBin;
        if (at + headerBytes > window.Length)
            return BinHeaderCut;
        return headerBytes switch
        {
            2 => window[at + 1],
            3 => BinaryPrimitives.ReadUInt16BigEndian(window[(at + 1)..]),
            _ => BinaryPrimitives.ReadUInt32BigEndian(window[(at + 1)..]),
        };
    }

    /// <summary>Periodic checkpoints (<see cref="TraceHeader.CheckpointIntervalEvents"/> = N &gt; 0): a
    /// Checkpoint of source <see cref="TraceFormat.CheckpointSourcePeriodic"/> follows every N other events,
    /// exactly there (the simulation emits it right after the Nth event), and nowhere else.</summary>
    private bool TryPlaceCheckpoint(ulong kind, uint source, long start, out TraceError? error)
    {
        error = null;
        if (kind == (ulong)TraceEventKind.Checkpoint && source == TraceFormat.CheckpointSourcePeriodic)
        {
            if (_sinceCheckpoint != _checkpointEvery)
            {
                return FailEvent(
                    TraceErrorKind.Inconsistent,
                    start,
                    $"a periodic Checkpoint only after every {_checkpointEvery} events (header checkpoint interval)",
                    $"one after {_sinceCheckpoint} events",
                    out error
                );
            }
            _sinceCheckpoint = 0;
            return true;
        }
        if (_sinceCheckpoint == _checkpointEvery)
        {
            return FailEvent(
                TraceErrorKind.Inconsistent,
                start,
                $"a periodic Checkpoint (kind 17, source 0) after {_checkpointEvery} events (header checkpoint "
                    + "interval)",
                $"event kind {kind}, source {source}",
                out error
            );
        }
        _sinceCheckpoint++;
        return true;
    }

    /// <summary>Reads the rest of the trace to its verified footer without returning the events: after a
    /// replay has diverged, this tells a recording that contradicts itself (corrupt: footer counts or hash
    /// that disagree with the events, a truncated file) from one the live run merely differs from.
    /// Each call consumes at least one byte, so the trace's length bounds the loop.</summary>
    public bool TryVerifyRest([NotNullWhen(false)] out TraceError? error)
    {
        while (TryReadNext(out _, out error)) { }
        if (error is null && Footer is not null)
            return true;
        error ??= Error
            ?? new TraceError(
                TraceErrorKind.Truncated,
                Offset,
                $"byte {Offset}: expected the footer, found nothing more"
            );
        return false;
    }

    private bool FailEvent(TraceErrorKind kind, long offset, string expected, string found, out TraceError? error)
    {
        Fail(kind, offset, expected, found, $"event {EventsRead}");
        error = Error;
        return false;
    }

    private bool TryEnterEvents()
    {
        if (_stage == Stage.Memory)
        {
            if (!TryReadChunks(null))
                return false;
            _stage = Stage.Events;
            return true;
        }
        return false; // Complete (Error null) or Failed (Error set)
    }

    /// <summary>Not a 6-item event array: the footer, end of stream, or garbage.</summary>
    private bool TryReadNextSlow(out TraceError? error)
    {
        string ctx = $"event {EventsRead}";
        error = null;
        _input.Fill(1);
        long start = _input.Offset;
        if (_input.IoError is { } io)
        {
            Fail(TraceErrorKind.Io, start, "readable bytes", "I/O error: " + io, ctx);
        }
        else if (_input.Available == 0)
        {
            Error = new TraceError(
                TraceErrorKind.Truncated,
                start,
                $"byte {start}: expected event array or footer map, found end of stream (after {EventsRead} events); "
                    + $"the trace is truncated (no footer)"
            );
            _stage = Stage.Failed;
        }
        else
        {
            byte code = _input.Span[0];
            if (code is >= MsgPackCode.FixMapMin and <= MsgPackCode.FixMapMax or MsgPackCode.Map16 or MsgPackCode.Map32)
            {
                if (TryDecode(DecodeFooter, TraceFormat.HeaderBytesMax, "footer") && TryCompleteAfterFooter())
                    return false;
            }
            else if (
                code
                is >= MsgPackCode.FixArrayMin
                    and <= MsgPackCode.FixArrayMax
                    or MsgPackCode.Array16
                    or MsgPackCode.Array32
            )
            {
                FailEventArraySize(code, start, ctx);
            }
            else
            {
                Fail(TraceErrorKind.Malformed, start, "event array or footer map", Describe(code), ctx);
            }
        }
        error = Error;
        return false;
    }

    /// <summary>An array at <paramref name="start"/> that is not the event array (the fast and general decoders take
    /// only a fixarray of <see cref="TraceFormat.EventFields"/>): says how many items it declares. The count is read
    /// here: the library refuses a count larger than the bytes left before saying it.</summary>
    private void FailEventArraySize(byte code, long start, string ctx)
    {
        int size = code switch
        {
            MsgPackCode.Array16 => 2,
            MsgPackCode.Array32 => 4,
            _ => 0,
        };
        _input.Fill(1 + size);
        ReadOnlySpan<byte> w = _input.Span;
        if (w.Length < 1 + size)
        {
            Fail(
                TraceErrorKind.Truncated,
                start,
                $"event array of {TraceFormat.EventFields} items",
                "end of stream",
                ctx
            );
            return;
        }
        long items = size switch
        {
            0 => code & 0x0f,
            2 => BinaryPrimitives.ReadUInt16BigEndian(w[1..]),
            _ => BinaryPrimitives.ReadUInt32BigEndian(w[1..]),
        };
        Fail(
            TraceErrorKind.Malformed,
            start,
            $"event array of {TraceFormat.EventFields} items",
            $"array of {items} items",
            ctx
        );
    }
}
