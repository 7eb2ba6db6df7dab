using Sim.Devices.Virtio.Blk;
using Sim.Engine;
using Sim.Engine.Trace;
using Virtsim.Fuzz.Input;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The virtio-blk device's host storage on its own: <see cref="StreamBlockBackend"/> (QEMU's file-posix backend: a
/// seekable stream, here a <see cref="MemoryStream"/> that can be told to fail) and <see cref="MemoryBlockBackend"/>
/// (built from an image) driven by the same reads, writes and flushes at boundary-biased offsets, both judged against
/// a byte-array model (oracle <c>block-backend</c>): the capacity (the stream's length rounded down to whole
/// 512-byte sectors), the answer of every access (in range, not read-only, the stream did not fail) and every byte
/// read. A failing stream must give an I/O error (false), never a host exception. Before, the blk fuzz target ran on
/// a zeroed <see cref="MemoryBlockBackend"/> only, so no fuzz target reached <see cref="StreamBlockBackend"/> or the
/// image constructor.
/// <para>Input format v1: header byte 0 = sectors - 1 (mod 16), byte 1 = flags (bit 0 read-only; bits 1..7 the
/// stream's extra bytes past the last whole sector, times 4), then operations of <see cref="OpLength"/> bytes: op
/// (mod 4: read, write, flush, arm a stream failure), offset kind, offset (le32), length (le16), fill byte.</para>
/// </summary>
internal sealed class BlockBackendTarget : IFuzzTarget
{
    /// <summary>The target's name.</summary>
    public const string TargetName = "block-backend";

    /// <summary>Oracle name.</summary>
    public const string Oracle = "block-backend";

    /// <summary>Operations decoded per input.</summary>
    public const int OperationsMax = 128;

    /// <summary>Bytes per operation.</summary>
    public const int OpLength = 9;

    /// <summary>Longest access.</summary>
    public const int AccessLengthMax = 2048;

    private const int SectorSize = 512;
    private const int SectorsMax = 16;

    private readonly byte[] _model = new byte[SectorsMax * SectorSize];
    private readonly byte[] _image = new byte[SectorsMax * SectorSize];
    private readonly byte[] _got = new byte[AccessLengthMax];
    private readonly byte[] _got2 = new byte[AccessLengthMax];
    private readonly byte[] _data = new byte[AccessLengthMax];

    /// <inheritdoc/>
    public string Name => TargetName;

    /// <inheritdoc/>
    public string Description =>
        "StreamBlockBackend and MemoryBlockBackend (from an image) vs a byte-array disk model: "
        + "capacity, answers, bytes read; failing streams";

    /// <inheritdoc/>
    public int InputVersion => 1;

    /// <inheritdoc/>
    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Devices"];

    /// <inheritdoc/>
    public IMutator? StructureMutator => null;

    /// <inheritdoc/>
    /// <summary>Typed minimiser over the 2-byte header (sectors - 1 mod 16, flags) and the 9-byte operations: op
    /// (mod 4), offset kind (mod 8), offset, length, fill byte.</summary>
    public IInputMinimizer? Minimizer { get; } =
        new Minimizing.FramedInputMinimizer(
            2,
            OpLength,
            OperationsMax,
            [new(0, 1, Minimizing.FrameFieldKind.Choice, SectorsMax), new(1, 1, Minimizing.FrameFieldKind.Value)],
            [
                new(0, 1, Minimizing.FrameFieldKind.Code, 4),
                new(1, 1, Minimizing.FrameFieldKind.Choice, 8),
                new(2, 4, Minimizing.FrameFieldKind.Value),
                new(6, 2, Minimizing.FrameFieldKind.Value),
                new(8, 1, Minimizing.FrameFieldKind.Value),
            ]
        );

    /// <summary>Accesses judged over all executions, for tests.</summary>
    public long Judged { get; private set; }

    /// <inheritdoc/>
    public IEnumerable<byte[]> SeedCorpus()
    {
        // 2 sectors, 8 extra bytes: write 512 at 0 (fill 0x5a), read 512 at 0, read across the end, flush.
        yield return Convert.FromHexString(
            "0104" + "01000000000000025a" + "000000000000000200" + "000100010000000200" + "020000000000000000"
        );
        // Read-only, 1 sector: a refused write, a read, an armed failure then a read and a flush.
        yield return Convert.FromHexString(
            "0001"
                + "010000000000100011"
                + "000000000000100000"
                + "030000000000000000"
                + "000008000000080000"
                + "030000000000000000"
                + "020000000000000000"
        );
    }

    /// <inheritdoc/>
    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var reader = new FuzzInputReader(input);
        int sectors = 1 + (reader.ReadByte() % SectorsMax);
        byte flags = reader.ReadByte();
        var disks = new Disks(this, context, sectors * SectorSize, readOnly: (flags & 1) != 0, extra: (flags >> 1) * 4);
        if (!disks.JudgeShape())
            return FuzzOutcome.Completed;
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            int op = reader.ReadByte() % 4;
            int kind = reader.ReadByte();
            uint raw = reader.ReadU32();
            int len = reader.ReadU16() % (AccessLengthMax + 1);
            byte fill = reader.ReadByte();
            ulong offset = Offset(kind, raw, disks.Size);
            // A finding trace's record of the access (Address = op, Value = offset); nothing unless one is recorded.
            context.Emit(TraceEventKind.DeviceResult, 0, (ulong)op, offset, default);
            switch (op)
            {
                case 0:
                    disks.Read(offset, len);
                    break;
                case 1:
                    disks.Write(offset, len, fill);
                    break;
                case 2:
                    disks.Flush();
                    break;
                default:
                    disks.Stream.Arm();
                    break;
            }
        }
        return FuzzOutcome.Completed;
    }

    /// <summary>Offsets biased to the disk's end (in range, straddling, past it), the start, whole sectors and raw
    /// (up to 2^32, and near 2^64 where offset + length wraps).</summary>
    private static ulong Offset(int kind, uint raw, int size) =>
        (kind & 7) switch
        {
            0 or 1 => raw % (uint)(size + SectorSize),
            2 => (ulong)size - (raw % 1024),
            3 => (ulong)(raw % 64) * SectorSize,
            4 => ulong.MaxValue - (raw % 1024),
            5 => (ulong)size + (raw % 8),
            _ => raw,
        };

    private static bool InRange(ulong offset, int len, int size) =>
        (ulong)len <= (ulong)size && offset <= (ulong)size - (ulong)len;

    /// <summary>One execution's two disks, the failing stream under the first, and the model.</summary>
    private sealed class Disks
    {
        private readonly BlockBackendTarget _t;
        private readonly FuzzContext _context;
        private readonly bool _readOnly;
        private readonly int _extra;
        private readonly StreamBlockBackend _streamDisk;
        private readonly MemoryBlockBackend _memoryDisk;

        public Disks(BlockBackendTarget target, FuzzContext context, int size, bool readOnly, int extra)
        {
            _t = target;
            _context = context;
            Size = size;
            _readOnly = readOnly;
            _extra = extra; // 0..508: never a whole sector more
            // The image: a pattern from the header, so reads before any write judge the stored bytes.
            for (int i = 0; i < size; i++)
                target._image[i] = Narrow.LowByte((i * 31) + size + extra + (readOnly ? 1 : 0));
            target._image.AsSpan(0, size).CopyTo(target._model);
            Stream = new FailingStream(size + extra);
            target._image.AsSpan(0, size).CopyTo(Stream.GetBuffer());
            _streamDisk = new StreamBlockBackend(Stream, readOnly);
            _memoryDisk = new MemoryBlockBackend(target._image.AsSpan(0, size), readOnly);
        }

        public int Size { get; }

        public FailingStream Stream { get; }

        private Span<byte> Model => _t._model.AsSpan(0, Size);

        /// <summary>Capacity (the stream's whole sectors) and read-only, as built; the memory disk holds the
        /// image.</summary>
        public bool JudgeShape() =>
            Check(
                _context,
                _streamDisk.SizeBytes == (ulong)Size,
                "capacity",
                $"stream capacity {_streamDisk.SizeBytes}, model {Size} (stream length {Size + _extra})"
            )
            && Check(
                _context,
                _memoryDisk.SizeBytes == (ulong)Size,
                "capacity",
                $"memory capacity {_memoryDisk.SizeBytes}"
            )
            && Check(
                _context,
                _streamDisk.IsReadOnly == _readOnly && _memoryDisk.IsReadOnly == _readOnly,
                "read-only",
                $"read-only {_streamDisk.IsReadOnly} / {_memoryDisk.IsReadOnly}, model {_readOnly}"
            )
            && Check(
                _context,
                _memoryDisk.Contents.SequenceEqual(Model),
                "memory-contents",
                "the image was not copied"
            );

        public void Read(ulong offset, int len)
        {
            bool inRange = InRange(offset, len, Size);
            bool failing = Stream.Failing;
            Span<byte> got = _t._got.AsSpan(0, len);
            Span<byte> got2 = _t._got2.AsSpan(0, len);
            bool ok = _streamDisk.TryRead(offset, got);
            bool ok2 = _memoryDisk.TryRead(offset, got2);
            _t.Judged++;
            string at = $"read of {len} at {offset} (disk {Size}, failing {failing})";
            if (!Check(_context, ok == (inRange && !failing), "read-answer", $"stream {at} answered {ok}"))
                return;
            if (!Check(_context, ok2 == inRange, "read-answer", $"memory {at} answered {ok2}"))
                return;
            ReadOnlySpan<byte> want = inRange ? Model.Slice((int)offset, len) : default;
            if (ok)
                Check(_context, got.SequenceEqual(want), "read-bytes", $"stream {at}: other bytes than the model");
            if (ok2)
                Check(_context, got2.SequenceEqual(want), "read-bytes", $"memory {at}: other bytes than the model");
        }

        public void Write(ulong offset, int len, byte fill)
        {
            bool want = InRange(offset, len, Size) && !_readOnly;
            bool failing = Stream.Failing;
            Span<byte> data = _t._data.AsSpan(0, len);
            for (int i = 0; i < len; i++)
                data[i] = Narrow.LowByte(fill + i);
            bool ok = _streamDisk.TryWrite(offset, data);
            bool ok2 = _memoryDisk.TryWrite(offset, data);
            _t.Judged++;
            string at = $"write of {len} at {offset} (disk {Size}, read-only {_readOnly}, failing {failing})";
            if (want)
                data.CopyTo(Model.Slice((int)offset, len));
            if (!Check(_context, ok == (want && !failing), "write-answer", $"stream {at} answered {ok}"))
                return;
            if (!Check(_context, ok2 == want, "write-answer", $"memory {at} answered {ok2}"))
                return;
            // The failure came before any byte moved; the stream takes the write now, as a host retry would, so that
            // both disks follow the model.
            if (want && failing)
                data.CopyTo(Stream.GetBuffer().AsSpan((int)offset, len));
            if (!Check(_context, Stream.GetBuffer().AsSpan(0, Size).SequenceEqual(Model), "stream-contents", at))
                return;
            Check(_context, _memoryDisk.Contents.SequenceEqual(Model), "memory-contents", at);
        }

        public void Flush()
        {
            bool failing = Stream.Failing;
            bool ok = _streamDisk.TryFlush();
            _t.Judged++;
            if (Check(_context, ok == !failing, "flush", $"stream flush answered {ok} (failing {failing})"))
                Check(_context, _memoryDisk.TryFlush(), "flush", "memory flush failed");
        }
    }

    private static bool Check(FuzzContext context, bool ok, string site, string message) =>
        context.Check(ok, Oracle, "block-backend/" + site, message);

    /// <summary>A fixed-length memory stream whose next positioning, read, write or flush after <see cref="Arm"/>
    /// throws <see cref="IOException"/> (a failing host file), before any byte moves.</summary>
    internal sealed class FailingStream(int length)
        : MemoryStream(new byte[length], 0, length, writable: true, publiclyVisible: true)
    {
        private bool _armed;

        /// <summary>The next access fails.</summary>
        public void Arm() => _armed = true;

        /// <summary>True when the next access will fail (the model's view).</summary>
        public bool Failing => _armed;

        private void ThrowIfArmed()
        {
            if (!_armed)
                return;
            _armed = false;
            throw new IOException("injected host I/O failure");
        }

        public override long Position
        {
            get => base.Position;
            set
            {
                ThrowIfArmed();
                base.Position = value;
            }
        }

        public override void Flush()
        {
            ThrowIfArmed();
            base.Flush();
        }
    }
}
