using System.Buffers.Binary;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>Writes <see cref="RingInput"/> bytes from typed operations: seed corpora, FsCheck generators and
/// regression tests build scenarios with it instead of hand-counting bytes.</summary>
internal sealed class RingScenarioBuilder
{
    private readonly List<byte> _bytes = [];

    /// <summary>Starts a scenario: queue size 2^<paramref name="sizeLog"/>; feature bits (1 EVENT_IDX, 2
    /// NOTIFY_ON_EMPTY); ring placement (0 packed at 0); a target-specific byte.</summary>
    public RingScenarioBuilder(
        int sizeLog,
        bool eventIdx = false,
        bool notifyOnEmpty = false,
        byte placement = 0,
        byte extra = 0
    )
    {
        if (sizeLog < 0 || sizeLog > RingInput.SizeLogMax)
            throw new ArgumentOutOfRangeException(nameof(sizeLog));
        _bytes.Add((byte)sizeLog);
        _bytes.Add((byte)((eventIdx ? 1 : 0) | (notifyOnEmpty ? 2 : 0)));
        _bytes.Add(placement);
        _bytes.Add(extra);
    }

    /// <summary>Appends one operation with every field given raw (see <see cref="RingInput.ReadOp"/>).</summary>
    public RingScenarioBuilder Op(
        int code,
        byte addrKind = 0,
        ulong addr = 0,
        byte lenKind = 0,
        uint len = 0,
        byte flags = 0,
        ushort next = 0,
        byte index = 0
    )
    {
        Span<byte> op = stackalloc byte[RingInput.OpLength];
        op[0] = (byte)code;
        op[RingInput.AddrKindOffset] = addrKind;
        BinaryPrimitives.WriteUInt64LittleEndian(op[RingInput.AddrOffset..], addr);
        op[RingInput.LenKindOffset] = lenKind;
        BinaryPrimitives.WriteUInt32LittleEndian(op[RingInput.LenOffset..], len);
        op[RingInput.FlagsOffset] = flags;
        BinaryPrimitives.WriteUInt16LittleEndian(op[RingInput.NextOffset..], next);
        op[RingInput.IndexOffset] = index;
        foreach (byte b in op)
            _bytes.Add(b);
        return this;
    }

    /// <summary>A well-formed chain of <paramref name="outs"/> readable and <paramref name="ins"/> writable buffers
    /// (each 0 to 2) of <paramref name="bufferLen"/> bytes (1..64), direct or indirect, published. Where the target
    /// fills requests (<see cref="GuestActor.FillRequests"/>), <paramref name="request"/> (le64, at most the buffer's
    /// length) is the first readable buffer's first bytes.</summary>
    public RingScenarioBuilder AddChain(
        int outs,
        int ins,
        uint bufferLen = 8,
        bool indirect = false,
        int table = 0,
        ulong request = 0
    )
    {
        if (outs is < 0 or > 2 || ins is < 0 or > 2)
            throw new ArgumentOutOfRangeException(nameof(outs), "0..2 buffers each way");
        if (bufferLen is < 1 or > 64)
            throw new ArgumentOutOfRangeException(nameof(bufferLen));
        return Op(
            RingInput.OpAddChain,
            addr: request,
            len: bufferLen - 1,
            flags: (byte)(indirect ? 4 : 0),
            index: (byte)(((table & 0xf) << 4) | (outs + (3 * ins)))
        );
    }

    /// <summary>A raw descriptor write into the ring's table.</summary>
    public RingScenarioBuilder Desc(
        int index,
        byte addrKind,
        ulong addr,
        byte lenKind,
        uint len,
        byte flags,
        ushort next
    ) => Op(RingInput.OpWriteDesc, addrKind, addr, lenKind, len, flags, next, (byte)index);

    /// <summary>Publishes descriptor <paramref name="head"/>.</summary>
    public RingScenarioBuilder Publish(ushort head) => Op(RingInput.OpPublish, next: head);

    public byte[] Build() => [.. _bytes];
}
