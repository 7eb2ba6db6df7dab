using Sim.Engine.Memory;
using Virtsim.Fuzz.Input;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// Fuzzes <see cref="GuestMemory"/>'s accessors against a shadow model: three regions (one ending at the top of
/// the 64-bit address space, where a careless <c>addr + len</c> wraps), a decoded stream of typed reads, writes,
/// span accesses, range checks and dirty-page queries at boundary-biased addresses. Oracle <c>model</c>: every
/// accessor's success must match the overflow-free model (<c>UInt128</c> arithmetic) and every byte read must match
/// the shadow. Host exceptions are findings as always.
/// Input format v1: a sequence of operations, each <c>op:choice(16)</c> followed by its operands.
/// </summary>
internal sealed class GuestMemoryTarget : IFuzzTarget
{
    /// <summary>Operations decoded per input (bounds the execution).</summary>
    public const int OperationsMax = 512;

    /// <summary>Longest span an operation reads or writes.</summary>
    public const int AccessLengthMax = 64;

    private const string Oracle = "model";
    private const int OpCount = 16;

    private static readonly RegionSpec[] Regions =
    [
        new(0x0, 0x3000),
        new(0x10000, 0x1000),
        new(ulong.MaxValue - 0x2000, 0x2000),
    ];

    private readonly GuestMemory _memory;
    private readonly byte[][] _shadow;
    private readonly bool[][] _shadowDirty;
    private readonly byte[] _scratch = new byte[AccessLengthMax];
    private readonly byte[] _scratch2 = new byte[AccessLengthMax];

    public GuestMemoryTarget()
    {
        if (!GuestMemory.TryCreate(new MemoryLayout(Regions), out GuestMemory? memory, out string? error))
            throw new InvalidOperationException(error);
        _memory = memory;
        _shadow = Regions.Select(r => new byte[r.Size]).ToArray();
        _shadowDirty = Regions
            .Select(r => new bool[(r.Size + GuestMemory.PageSize - 1) / GuestMemory.PageSize])
            .ToArray();
    }

    public string Name => "guest-memory";

    public string Description =>
        "GuestMemory Try accessors, spans and dirty pages vs a shadow model across three regions (one at the top of "
        + "the address space)";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Engine"];

    public IMutator? StructureMutator => null;

    public IInputMinimizer? Minimizer => null;

    public IEnumerable<byte[]> SeedCorpus()
    {
        // op 4 (write u8) at region 0 base+0x10, value 0x5a; op 0 (read u8) same address.
        yield return [4, 0, 0, 0x10, 0x00, 0x5a, 0, 0, 0, 0x10, 0x00];
        // op 7 (write u64) at the end of region 2 minus 8, then op 3 (read u64) there, then op 11 (range check).
        yield return [7, 1, 2, 8, 1, 2, 3, 4, 5, 6, 7, 8, 3, 1, 2, 8, 11, 1, 2, 0, 8, 0, 0, 0, 0, 0, 0, 0];
        // op 9 (write span) of 16 bytes crossing region 1's end, op 10 (get span), op 14 (clear dirty), op 15 (dirty
        // pages).
        yield return
        [
            9,
            1,
            1,
            4,
            16,
            1,
            2,
            3,
            4,
            5,
            6,
            7,
            8,
            9,
            10,
            11,
            12,
            13,
            14,
            15,
            16,
            10,
            0,
            1,
            0x20,
            0,
            8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            14,
            15,
        ];
        // op 12 (snapshot), op 5 (write u16), op 13 (restore), op 1 (read u16).
        yield return [12, 5, 0, 0, 0, 0, 0xff, 0xff, 13, 1, 0, 0, 0, 0];
    }

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        Reset();
        _memory.Observer = context.Observe(_memory, null);
        var reader = new FuzzInputReader(input);
        MemorySnapshot? snapshot = null;
        for (int n = 0; n < OperationsMax && !reader.IsExhausted; n++)
        {
            context.Step();
            int op = reader.ReadChoice(OpCount);
            switch (op)
            {
                case 0:
                case 1:
                case 2:
                case 3:
                    if (!CheckRead(ref reader, context, 1 << op))
                        return FuzzOutcome.Completed;
                    break;
                case 4:
                case 5:
                case 6:
                case 7:
                    if (!CheckWrite(ref reader, context, 1 << (op - 4)))
                        return FuzzOutcome.Completed;
                    break;
                case 8:
                    if (!CheckReadSpan(ref reader, context))
                        return FuzzOutcome.Completed;
                    break;
                case 9:
                    if (!CheckWriteSpan(ref reader, context))
                        return FuzzOutcome.Completed;
                    break;
                case 10:
                    if (!CheckGetSpan(ref reader, context))
                        return FuzzOutcome.Completed;
                    break;
                case 11:
                    if (!CheckValidRange(ref reader, context))
                        return FuzzOutcome.Completed;
                    break;
                case 12:
                    snapshot = _memory.Snapshot();
                    break;
                case 13:
                    if (snapshot is not null)
                    {
                        _memory.Restore(snapshot);
                        for (int i = 0; i < Regions.Length; i++)
                        {
                            snapshot.Contents[i].CopyTo(_shadow[i], 0);
                            Array.Fill(_shadowDirty[i], true);
                        }
                    }
                    break;
                case 14:
                    _memory.ClearDirty();
                    foreach (bool[] d in _shadowDirty)
                        Array.Clear(d);
                    break;
                default:
                    if (!CheckDirtyPages(context))
                        return FuzzOutcome.Completed;
                    break;
            }
        }
        return FuzzOutcome.Completed;
    }

    /// <summary>TryRead of a span (op 8) against the model; false when a finding was reported.</summary>
    private bool CheckReadSpan(ref FuzzInputReader reader, FuzzContext context)
    {
        ulong address = ReadAddress(ref reader);
        int length = reader.ReadChoice(AccessLengthMax + 1);
        bool ok = _memory.TryRead(new GuestAddress(address), _scratch.AsSpan(0, length));
        bool expect = ModelLocate(address, (ulong)length, out int r, out int off);
        if (ok != expect)
        {
            return Fail(
                context,
                "guest-memory/read-span-validity",
                $"TryRead(0x{address:x}, {length}) = {ok}, model says {expect}",
                false
            );
        }
        if (ok && !(_scratch.AsSpan(0, length).SequenceEqual(_shadow[r].AsSpan(off, length))))
        {
            return Fail(
                context,
                "guest-memory/read-span-value",
                $"TryRead(0x{address:x}, {length}) returned bytes differing from the model",
                false
            );
        }
        return true;
    }

    /// <summary>TryWrite of a span (op 9) against the model; a valid write updates the model. False when a finding
    /// was reported.</summary>
    private bool CheckWriteSpan(ref FuzzInputReader reader, FuzzContext context)
    {
        ulong address = ReadAddress(ref reader);
        int length = reader.ReadChoice(AccessLengthMax + 1);
        reader.ReadBytes(_scratch.AsSpan(0, length));
        bool ok = _memory.TryWrite(new GuestAddress(address), _scratch.AsSpan(0, length));
        bool expect = ModelLocate(address, (ulong)length, out int r, out int off);
        if (ok != expect)
        {
            return Fail(
                context,
                "guest-memory/write-span-validity",
                $"TryWrite(0x{address:x}, {length}) = {ok}, model says {expect}",
                false
            );
        }
        if (ok)
            ModelWrite(r, off, _scratch.AsSpan(0, length));
        return true;
    }

    /// <summary>TryGetSpan (op 10), sometimes with a huge length, against the model; false when a finding was
    /// reported.</summary>
    private bool CheckGetSpan(ref FuzzInputReader reader, FuzzContext context)
    {
        ulong address = ReadAddress(ref reader);
        ulong length = reader.ReadBool() ? reader.ReadU64() : (ulong)reader.ReadChoice(AccessLengthMax + 1);
        bool ok = _memory.TryGetSpan(new GuestAddress(address), length, out Span<byte> span);
        bool expect = length <= int.MaxValue && ModelLocate(address, length, out int r, out int off);
        if (ok != expect)
        {
            return Fail(
                context,
                "guest-memory/get-span-validity",
                $"TryGetSpan(0x{address:x}, {length}) = {ok}, model says {expect}",
                false
            );
        }
        if (ok)
        {
            ModelLocate(address, length, out r, out off);
            if (!(span.Length == (int)length && span.SequenceEqual(_shadow[r].AsSpan(off, (int)length))))
            {
                return Fail(
                    context,
                    "guest-memory/get-span-value",
                    $"TryGetSpan(0x{address:x}, {length}) span differs from the model",
                    false
                );
            }
        }
        return true;
    }

    /// <summary>IsValidRange (op 11) against the model; false when a finding was reported.</summary>
    private bool CheckValidRange(ref FuzzInputReader reader, FuzzContext context)
    {
        ulong address = ReadAddress(ref reader);
        ulong length = reader.ReadU64();
        bool ok = _memory.IsValidRange(new GuestAddress(address), length);
        bool expect = ModelLocate(address, length, out _, out _);
        if (ok != expect)
        {
            return Fail(
                context,
                "guest-memory/valid-range",
                $"IsValidRange(0x{address:x}, 0x{length:x}) = {ok}, model says {expect}",
                false
            );
        }
        return true;
    }

    /// <summary>Reports a model divergence. Messages are formatted only here, on failure, so the common path
    /// allocates nothing.</summary>
    private static T Fail<T>(FuzzContext context, string site, string message, T result)
    {
        context.Report(Oracle, site, message);
        return result;
    }

    private void Reset()
    {
        _memory.Clear();
        _memory.ClearDirty();
        foreach (byte[] s in _shadow)
            Array.Clear(s);
        foreach (bool[] d in _shadowDirty)
            Array.Clear(d);
    }

    /// <summary>Boundary-biased address: near a region's start or end, or raw 32/64-bit.</summary>
    private static ulong ReadAddress(ref FuzzInputReader reader)
    {
        int kind = reader.ReadChoice(4);
        switch (kind)
        {
            case 0:
            {
                RegionSpec r = Regions[reader.ReadChoice(Regions.Length)];
                return unchecked(r.Base + reader.ReadU16());
            }
            case 1:
            {
                RegionSpec r = Regions[reader.ReadChoice(Regions.Length)];
                return unchecked(r.Base + r.Size - reader.ReadByte());
            }
            case 2:
                return reader.ReadU32();
            default:
                return reader.ReadU64();
        }
    }

    private bool CheckRead(ref FuzzInputReader reader, FuzzContext context, int width)
    {
        ulong address = ReadAddress(ref reader);
        var a = new GuestAddress(address);
        ulong value;
        bool ok;
        switch (width)
        {
            case 1:
                ok = _memory.TryReadUInt8(a, out byte v8);
                value = v8;
                break;
            case 2:
                ok = _memory.TryReadUInt16(a, out ushort v16);
                value = v16;
                break;
            case 4:
                ok = _memory.TryReadUInt32(a, out uint v32);
                value = v32;
                break;
            default:
                ok = _memory.TryReadUInt64(a, out ulong v64);
                value = v64;
                break;
        }
        bool expect = ModelLocate(address, (ulong)width, out int r, out int off);
        if (ok != expect)
            return Fail(
                context,
                $"guest-memory/read-u{width * 8}-validity",
                $"TryReadUInt{width * 8}(0x{address:x}) = {ok}, model says {expect}",
                false
            );
        if (ok)
        {
            ulong model = 0;
            for (int i = width - 1; i >= 0; i--)
                model = (model << 8) | _shadow[r][off + i];
            if (value != model)
                return Fail(
                    context,
                    $"guest-memory/read-u{width * 8}-value",
                    $"TryReadUInt{width * 8}(0x{address:x}) = 0x{value:x}, model says 0x{model:x}",
                    false
                );
        }
        else if (value != 0)
            return Fail(
                context,
                $"guest-memory/read-u{width * 8}-failed-value",
                $"failed TryReadUInt{width * 8}(0x{address:x}) left 0x{value:x} in its output",
                false
            );
        return true;
    }

    private bool CheckWrite(ref FuzzInputReader reader, FuzzContext context, int width)
    {
        ulong address = ReadAddress(ref reader);
        ulong value = reader.ReadU64();
        var a = new GuestAddress(address);
        bool ok = width switch
        {
            1 => _memory.TryWriteUInt8(a, (byte)value),
            2 => _memory.TryWriteUInt16(a, (ushort)value),
            4 => _memory.TryWriteUInt32(a, (uint)value),
            _ => _memory.TryWriteUInt64(a, value),
        };
        bool expect = ModelLocate(address, (ulong)width, out int r, out int off);
        if (ok != expect)
            return Fail(
                context,
                $"guest-memory/write-u{width * 8}-validity",
                $"TryWriteUInt{width * 8}(0x{address:x}) = {ok}, model says {expect}",
                false
            );
        if (ok)
        {
            Span<byte> bytes = _scratch2.AsSpan(0, width);
            for (int i = 0; i < width; i++)
                bytes[i] = (byte)(value >> (8 * i));
            ModelWrite(r, off, bytes);
        }
        return true;
    }

    private bool CheckDirtyPages(FuzzContext context)
    {
        var expected = new List<ulong>();
        for (int r = 0; r < Regions.Length; r++)
        {
            for (int p = 0; p < _shadowDirty[r].Length; p++)
            {
                if (_shadowDirty[r][p])
                    expected.Add(Regions[r].Base + ((ulong)p * GuestMemory.PageSize));
            }
        }
        ulong[] actual = _memory.DirtyPages().Select(g => g.Value).ToArray();
        if (actual.AsSpan().SequenceEqual(expected.ToArray()))
            return true;
        return Fail(
            context,
            "guest-memory/dirty-pages",
            $"DirtyPages() = [{string.Join(", ", actual.Select(x => $"0x{x:x}"))}], model says "
                + $"[{string.Join(", ", expected.Select(x => $"0x{x:x}"))}]",
            false
        );
    }

    private void ModelWrite(int region, int offset, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_shadow[region].AsSpan(offset));
        if (bytes.Length == 0)
            return;
        for (int p = offset / GuestMemory.PageSize; p <= (offset + bytes.Length - 1) / GuestMemory.PageSize; p++)
            _shadowDirty[region][p] = true;
    }

    /// <summary>The model: [address, address+length) inside one region, computed in 128 bits so nothing
    /// wraps.</summary>
    private static bool ModelLocate(ulong address, ulong length, out int region, out int offset)
    {
        for (int i = 0; i < Regions.Length; i++)
        {
            RegionSpec r = Regions[i];
            if (address >= r.Base && (UInt128)address + length <= (UInt128)r.Base + r.Size)
            {
                region = i;
                offset = (int)(address - r.Base);
                return true;
            }
        }
        region = 0;
        offset = 0;
        return false;
    }
}
