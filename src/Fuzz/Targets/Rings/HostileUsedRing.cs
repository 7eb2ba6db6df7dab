using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Virtsim.Fuzz.Input;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The device side of the <c>driver-queue</c> target: a device that takes chains from the available ring as a
/// QEMU-style device does (VIRTIO 1.2 §2.7.6: avail.idx, then avail.ring[last_avail % size]) and returns them in the
/// used ring in any order and count the input chooses (§2.7.8: id, len, then used.idx), or misbehaves: used entries
/// with ids that were never offered or were already returned, any len, a used.idx that jumps, slots overwritten after
/// publication, the suppression words (used.flags NO_NOTIFY, avail_event) set to anything. Every store goes to both
/// lanes' memories alike; what it reads (the available ring) it reads from the reference lane, whose ring bytes the
/// oracle has just found equal to the fast lane's.
/// </summary>
internal sealed class HostileUsedRing
{
    /// <summary>Most chains the device holds between taking and returning them (the largest queue size the target
    /// builds).</summary>
    public const int PendingMax = 256;

    private static readonly uint[] Lengths = [0, 1, 4, 8, 16, 512, 0x1000, 0x1_0000, 0x7fff_ffff, uint.MaxValue];

    private readonly ushort[] _pending = new ushort[PendingMax];
    private SplitRingLayout _layout;
    private int _pendingCount;
    private ushort _lastAvail;
    private ushort _usedIdx;

    /// <summary>A fresh device for a queue at <paramref name="layout"/> (rings zeroed by the driver).</summary>
    public void Reset(SplitRingLayout layout)
    {
        _layout = layout;
        _pendingCount = 0;
        _lastAvail = 0;
        _usedIdx = 0;
    }

    /// <summary>Device operations: take chains, complete chains, stray used entry, used.idx store, suppression word,
    /// raw used-ring store.</summary>
    public const int OpCount = 6;

    /// <summary>Runs device operation <paramref name="op"/> with operands from <paramref name="reader"/>, storing
    /// into both memories.</summary>
    public void Run(int op, ref FuzzInputReader reader, GuestMemory reference, GuestMemory fast)
    {
        switch (op)
        {
            case 0:
                Fetch(reader.ReadChoice(_layout.Size + 1), reference);
                break;
            case 1:
                Complete(ref reader, reference, fast);
                break;
            case 2:
            {
                // A used entry nobody asked for: at the next slot or any slot (overwriting a published one), with
                // an id that is a head in flight, any small index or any 32-bit value.
                int slot = reader.ReadBool() ? _usedIdx & (_layout.Size - 1) : reader.ReadChoice(_layout.Size);
                uint id = reader.ReadChoice(3) switch
                {
                    0 => _pendingCount > 0 ? _pending[reader.ReadChoice(_pendingCount)] : 0u,
                    1 => reader.ReadByte(),
                    _ => reader.ReadU32(),
                };
                uint len = Lengths[reader.ReadChoice(Lengths.Length)];
                StoreU64(reference, fast, _layout.UsedEntry(slot), id | ((ulong)len << 32));
                break;
            }
            case 3:
            {
                // used.idx moved by the device's own count plus a small signed step, or to any value.
                ushort value = reader.ReadBool() ? (ushort)(_usedIdx + (sbyte)reader.ReadByte()) : reader.ReadU16();
                if (reader.ReadBool())
                    _usedIdx = value;
                StoreU16(reference, fast, _layout.UsedIdx, value);
                break;
            }
            case 4:
            {
                // Notification suppression (VIRTIO 1.2 §2.7.7, §2.7.10): used.flags, or avail_event near the
                // device's view of avail.idx.
                if (reader.ReadBool())
                    StoreU16(reference, fast, _layout.UsedRing, reader.ReadU16());
                else
                    StoreU16(reference, fast, _layout.AvailEvent, (ushort)(_lastAvail + (sbyte)reader.ReadByte()));
                break;
            }
            default:
            {
                // Any 32-bit store into the used ring (flags, idx, entries, avail_event): the ring overwritten.
                int bytes = (int)Sim.Spec.Virtio.VirtioSpec.UsedRingSize(_layout.Size);
                int offset = reader.ReadChoice(bytes - 3);
                var at = new GuestAddress(_layout.UsedRing.Value + (ulong)offset);
                StoreU32(reference, fast, at, reader.ReadU32());
                break;
            }
        }
    }

    /// <summary>Takes up to <paramref name="count"/> chains: avail.idx, then one ring entry per chain (VIRTIO 1.2
    /// §2.7.6), whatever head the driver wrote.</summary>
    private void Fetch(int count, GuestMemory memory)
    {
        if (!memory.TryReadUInt16(_layout.AvailIdx, out ushort availIdx))
            return;
        for (int n = 0; n < count && _lastAvail != availIdx && _pendingCount < PendingMax; n++)
        {
            if (!memory.TryReadUInt16(_layout.AvailEntry(_lastAvail & (_layout.Size - 1)), out ushort head))
                return;
            _pending[_pendingCount++] = head;
            _lastAvail++;
        }
    }

    /// <summary>Returns 0..size chains it holds, each picked by the input (any order), with a len from a table
    /// (honest or far past the chain's writable bytes), publishing used.idx after each or only at the end.</summary>
    private void Complete(ref FuzzInputReader reader, GuestMemory reference, GuestMemory fast)
    {
        int count = reader.ReadChoice(_layout.Size + 1);
        bool eachPublished = reader.ReadBool();
        for (int n = 0; n < count && _pendingCount > 0; n++)
        {
            int pick = reader.ReadChoice(_pendingCount);
            ushort id = _pending[pick];
            _pending[pick] = _pending[--_pendingCount];
            uint len = Lengths[reader.ReadChoice(Lengths.Length)];
            StoreU64(reference, fast, _layout.UsedEntry(_usedIdx & (_layout.Size - 1)), id | ((ulong)len << 32));
            _usedIdx++;
            if (eachPublished)
                StoreU16(reference, fast, _layout.UsedIdx, _usedIdx);
        }
        StoreU16(reference, fast, _layout.UsedIdx, _usedIdx);
    }

    private static void StoreU16(GuestMemory a, GuestMemory b, GuestAddress at, ushort value)
    {
        _ = a.TryWriteUInt16(at, value);
        _ = b.TryWriteUInt16(at, value);
    }

    private static void StoreU32(GuestMemory a, GuestMemory b, GuestAddress at, uint value)
    {
        _ = a.TryWriteUInt32(at, value);
        _ = b.TryWriteUInt32(at, value);
    }

    private static void StoreU64(GuestMemory a, GuestMemory b, GuestAddress at, ulong value)
    {
        _ = a.TryWriteUInt64(at, value);
        _ = b.TryWriteUInt64(at, value);
    }
}
