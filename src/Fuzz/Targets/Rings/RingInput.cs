using Virtsim.Fuzz.Input;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The byte format shared by the virtqueue targets (input format v1): a <see cref="HeaderLength"/>-byte header
/// (queue size, features, ring placement, one target-specific byte), then fixed-size operations, each an op byte
/// (<c>op % <see cref="OpCount"/></c>) followed by <see cref="OperandLength"/> operand bytes. Ops 0..7 are guest
/// actions, common to every target; 8..15 belong to the target (device steps, resets, vhost ioctls, scheduler
/// choices). Fixed framing lets <see cref="Mutation.ScenarioMutator"/> insert, delete, duplicate and edit whole
/// operations and descriptor fields without parsing. Truncated inputs decode (missing bytes read as zero).
/// <para>Guest memory: two adjacent 32 KiB regions at 0 and 0x8000 (64 KiB: small enough to reset per execution;
/// two regions so a buffer can straddle a region boundary). Default rings at 0; indirect tables at
/// <see cref="IndirectBase"/>; data buffers at <see cref="BufferBase"/> (straddling 0x8000); one long indirect table at
/// <see cref="LongTableBase"/>.</para>
/// </summary>
internal static class RingInput
{
    public const int HeaderLength = 4;

    /// <summary>Op byte + operands: every operation takes exactly this many bytes.</summary>
    public const int OpLength = 1 + OperandLength;

    /// <summary>addr kind (1) + addr (8) + len kind (1) + len (4) + flags (1) + next (2) + index (1).</summary>
    public const int OperandLength = 18;

    public const int OpCount = 16;

    public const ulong RegionSize = 0x8000;
    public const ulong MemorySize = 2 * RegionSize;
    public const ulong IndirectBase = 0x4000;
    public const int IndirectTables = 8;
    public const ulong IndirectTableStride = 0x200;
    public const ulong BufferBase = 0x6000;
    public const ulong BufferAreaSize = 0x4000;

    /// <summary>Where <see cref="OpAddChain"/> writes a long indirect table (up to <see cref="LongTableMax"/>
    /// descriptors, 8,208 bytes, inside the second region after the data area).</summary>
    public const ulong LongTableBase = 0xA000;

    /// <summary>Fewest descriptors of a long indirect table; each spans the region boundary, so two iovecs
    /// each.</summary>
    public const int LongTableMin = 512;

    /// <summary>Most descriptors of a long indirect table.</summary>
    public const int LongTableMax = LongTableMin + 1;

    /// <summary>Largest queue size the targets use (2^<see cref="SizeLogMax"/>).</summary>
    public const int SizeLogMax = 8;
    public const int SizeMax = 1 << SizeLogMax;

    // Guest operations (0..7).
    public const int OpWriteDesc = 0;
    public const int OpWriteIndirectDesc = 1;
    public const int OpAddChain = 2;
    public const int OpPublish = 3;
    public const int OpSetAvailIdx = 4;
    public const int OpSuppression = 5;
    public const int OpGuestWrite = 6;
    public const int OpGuestIdle = 7;

    /// <summary>Device-side op 15 of the virtio backend targets (QEMU-style model and real QEMU): the guest's ring
    /// ops and kicks from here on act on queue <c>Index % queue count</c>. Op 15 did nothing before, so a
    /// single-queue device (blk, rng) decodes every input as it did; a multi-queue device (net: receiveq1,
    /// transmitq1) starts on queue 0 and changes only where an input holds op 15.</summary>
    public const int OpSelectQueue = 15;

    /// <summary>Device-side op 13 of the virtio backend targets: "nothing" for every device but virtio-net, where a
    /// frame built from the operands (<see cref="InjectedFrame"/>) arrives from the link now, so the input and not
    /// only the target's always-fed source decides when a frame reaches receiveq1. Op 13 did nothing before on net
    /// too; no committed net corpus holds it.</summary>
    public const int OpInjectFrame = 13;

    /// <summary>Where queue 1 and above of a multi-queue device have their rings (packed, queue <c>q</c> at
    /// <c>SecondaryRingBase + (q - 1) * SecondaryRingStride</c>): above the data buffers, inside the second region;
    /// a 256-entry queue's rings take 0x1A0E bytes.</summary>
    public const ulong SecondaryRingBase = 0xA000;

    public const ulong SecondaryRingStride = 0x2000;

    /// <summary>Queues a device may have whose rings the format places (queue 0 plus two secondary ones).</summary>
    public const int PlacedQueuesMax = 3;

    /// <summary>Where the guest's well-formed chains (<see cref="OpAddChain"/>) on queue 1 and above take their
    /// buffers: the upper half of the data area, so they do not overlap queue 0's.</summary>
    public const ulong SecondaryBufferBase = BufferBase + (BufferAreaSize / 2);

    /// <summary>Offsets of the operand fields within an operation (after the op byte).</summary>
    public const int AddrKindOffset = 1;
    public const int AddrOffset = 2;
    public const int LenKindOffset = 10;
    public const int LenOffset = 11;
    public const int FlagsOffset = 15;
    public const int NextOffset = 16;
    public const int IndexOffset = 18;

    /// <summary>The decoded header.</summary>
    public readonly record struct Header(
        int Size,
        bool EventIdx,
        bool NotifyOnEmpty,
        bool IndirectDesc,
        int Placement,
        byte Extra
    );

    public static Header ReadHeader(ref FuzzInputReader reader)
    {
        int sizeLog = reader.ReadChoice(SizeLogMax + 1);
        byte features = reader.ReadByte();
        int placement = reader.ReadByte();
        byte extra = reader.ReadByte();
        return new Header(
            1 << sizeLog,
            (features & 1) != 0,
            (features & 2) != 0,
            (features & 4) == 0,
            placement,
            extra
        );
    }

    /// <summary>One decoded operation (all fields; each op uses the ones it needs).</summary>
    public readonly record struct Op(
        int Code,
        ulong Addr,
        uint Len,
        ushort Flags,
        ushort Next,
        byte Index,
        ulong RawAddr,
        uint RawLen
    );

    public static Op ReadOp(ref FuzzInputReader reader)
    {
        int code = reader.ReadByte() % OpCount;
        int addrKind = reader.ReadByte();
        ulong rawAddr = reader.ReadU64();
        int lenKind = reader.ReadByte();
        uint rawLen = reader.ReadU32();
        ushort flags = reader.ReadByte();
        ushort next = reader.ReadU16();
        byte index = reader.ReadByte();
        return new Op(
            code,
            Address(addrKind, rawAddr),
            Length(lenKind, rawLen),
            (ushort)(flags & 7),
            next,
            index,
            rawAddr,
            rawLen
        );
    }

    /// <summary>Boundary-biased address: buffer area, the rings, region edges, indirect area, the top of the
    /// address space (addr + len overflow) or raw.</summary>
    public static ulong Address(int kind, ulong raw) =>
        (kind & 7) switch
        {
            0 or 1 => BufferBase + (raw % BufferAreaSize),
            2 => raw % 0x2000, // the default rings
            3 => unchecked(RegionSize - (raw & 0xff)), // straddles the region boundary
            4 => unchecked(MemorySize - (raw & 0xff)), // runs off the end of memory
            5 => IndirectBase + (raw % (IndirectTables * IndirectTableStride)),
            6 => unchecked(ulong.MaxValue - (raw & 0xfff)), // addr + len wraps
            _ => raw,
        };

    /// <summary>Length biased to 0, small, the demo request size, huge and raw.</summary>
    public static uint Length(int kind, uint raw) =>
        (kind & 7) switch
        {
            0 or 1 => 1 + (raw % 64),
            2 => 8,
            3 => 0,
            4 => raw % 0x1000,
            5 => uint.MaxValue - (raw & 0xff),
            6 => 0x8000_0000u + (raw & 0xffff),
            _ => raw,
        };

    /// <summary>The rings of queue <paramref name="queue"/> (1 or above) of a multi-queue device, packed at its fixed
    /// place (<see cref="SecondaryRingBase"/>).</summary>
    public static (ulong Desc, ulong Avail, ulong Used) SecondaryRings(int queue, int size)
    {
        if (queue < 1 || queue >= PlacedQueuesMax)
            throw new ArgumentOutOfRangeException(nameof(queue));
        ulong desc = SecondaryRingBase + ((ulong)(queue - 1) * SecondaryRingStride);
        ulong avail = desc + (16UL * (ulong)size);
        ulong used = (avail + 6 + (2UL * (ulong)size) + 3) & ~3UL;
        return (desc, avail, used);
    }

    /// <summary>The address of indirect table <paramref name="table"/> (mod <see cref="IndirectTables"/>).</summary>
    public static ulong IndirectTable(int table) =>
        IndirectBase + ((ulong)(table % IndirectTables) * IndirectTableStride);

    /// <summary>Ring addresses for <paramref name="placement"/>: mostly the packed modern layout at 0; sometimes at the
    /// region boundary (rings straddling regions are refused at enable), near the end of memory, or
    /// overlapping.</summary>
    public static (ulong Desc, ulong Avail, ulong Used) Place(int placement, int size, ulong raw)
    {
        ulong descBytes = 16UL * (ulong)size;
        ulong availBytes = 6 + (2UL * (ulong)size);
        ulong Packed(ulong start, out ulong avail, out ulong used)
        {
            avail = start + descBytes;
            used = (avail + availBytes + 3) & ~3UL;
            return start;
        }
        switch (placement & 7)
        {
            case 5:
            {
                ulong d = Packed(RegionSize - 0x800, out ulong a, out ulong u);
                return (d, a, u);
            }
            case 6:
                // Overlapping rings: used ring on top of the available ring.
                return (0, descBytes, descBytes);
            case 7:
                return (raw & 0xfff0, (raw >> 16) & 0xfffe, (raw >> 32) & 0xfffc);
            default:
            {
                ulong d = Packed(0, out ulong a, out ulong u);
                return (d, a, u);
            }
        }
    }
}
