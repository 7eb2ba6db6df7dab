using System.Buffers.Binary;
using Sim.Devices.Virtio.Queue;
using Sim.Engine;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Judges every split-queue pop against the ring model (issue 12 item 5): the answer (nothing available, an element,
/// or an error) and the error's kind must be the model's (<see cref="ChainReference"/>), a popped element must hold
/// exactly the model's iovecs, and the pop must read no more descriptors than the model's walk reads before it stops.
/// <para><see cref="Before"/> takes the queue's indices (last_avail_idx, shadow_avail_idx, inuse: other oracles judge
/// those — liveness, used-ring, the fast-path twin) and the available-ring words the pop will read; <see cref="After"/>
/// walks the chain in memory as the pop left it. Nothing but avail_event (stored before the walk, QEMU
/// virtqueue_split_pop → vring_set_avail_event) changes memory during a pop, so the walk sees what the device's walk
/// saw, also where avail_event lands in the descriptor table.</para>
/// </summary>
internal sealed class PopOracle
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "chain";

    private readonly ChainReference _reference = new();
    private QueueError _ringError;
    private bool _empty;
    private bool _haveHead;
    private ushort _head;
    private int _size;
    private ulong _table;

    /// <summary>Chains judged (valid or not) since construction.</summary>
    public long Judged { get; private set; }

    /// <summary>What the pop about to run must do at ring level (QEMU virtqueue_num_heads, virtqueue_split_pop's inuse
    /// check, virtqueue_get_head).</summary>
    public void Before(SplitQueue queue, GuestMemory memory)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(memory);
        _ringError = QueueError.None;
        _empty = false;
        _haveHead = false;
        _size = queue.Size;
        _table = queue.DescTable.Value;
        ushort next = queue.NextAvail.Value;
        ulong avail = queue.AvailRing.Value;
        if (queue.ShadowAvail.Value == next)
        {
            ushort idx = ReadLe16(memory, avail + 2);
            // "Guest moved used index from %u to %u": more than the queue size ahead.
            if (Narrow.ToUInt16Wrapping(idx - next) > _size)
            {
                _ringError = QueueError.AvailIndexTooFar;
                return;
            }
            if (idx == next)
            {
                _empty = true;
                return;
            }
        }
        if (queue.InUse >= _size)
        {
            _ringError = QueueError.SizeExceeded;
            return;
        }
        _head = ReadLe16(memory, avail + 4 + (2UL * (ulong)(next & (_size - 1))));
        if (_head >= _size)
        {
            _ringError = QueueError.HeadOutOfRange;
            return;
        }
        _haveHead = true;
    }

    /// <summary>Judges the pop that ran after <see cref="Before"/>: its result, error, element and the descriptor-sized
    /// reads the device made during it (<paramref name="descriptorReads"/>).</summary>
    public void After(
        GuestMemory memory,
        bool popped,
        QueueError error,
        QueueElement element,
        long descriptorReads,
        FuzzContext context
    )
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(element);
        ArgumentNullException.ThrowIfNull(context);
        if (!_haveHead)
        {
            QueueError want = _ringError;
            if (popped)
                context.Report(
                    Oracle,
                    "chain/popped-when-model-says-none",
                    $"the pop returned head {element.Head} but the ring model says "
                        + $"{(_empty ? "the queue is empty" : want.ToString())}"
                );
            else if (error != want)
                ReportKind(context, want, error, "at ring level (no chain walked)");
            else if (descriptorReads > 0)
                context.Report(
                    Oracle,
                    "chain/descriptor-reads-past-rule",
                    $"the pop read {descriptorReads} descriptors although it ended at ring level "
                        + $"({(_empty ? "empty" : want.ToString())}) and may read none"
                );
            return;
        }
        Judged++;
        QueueError expected = _reference.Classify(memory, _table, _size, _head);
        if (descriptorReads > _reference.Reads)
        {
            context.Report(
                Oracle,
                "chain/descriptor-reads-past-rule",
                $"the pop of head {_head} read {descriptorReads} descriptors; the rule stops its walk after "
                    + $"{_reference.Reads} ({(expected == QueueError.None ? "valid chain" : expected.ToString())}, "
                    + $"queue size {_size}{(_reference.Indirect ? ", indirect" : "")})"
            );
            return;
        }
        if (expected == QueueError.None)
        {
            if (!popped)
                ReportKind(context, expected, error, $"for head {_head}");
            else
                CompareElement(element, context);
            return;
        }
        if (popped)
        {
            context.Report(
                Oracle,
                "chain/invalid-chain-accepted",
                $"the pop returned head {element.Head} but the ring model classifies the chain at head {_head} as "
                    + $"{expected}"
            );
            return;
        }
        if (error != expected)
            ReportKind(context, expected, error, $"for head {_head}");
    }

    private static void ReportKind(FuzzContext context, QueueError expected, QueueError actual, string where)
    {
        if (expected == QueueError.None && actual != QueueError.None)
            context.Report(
                Oracle,
                "chain/valid-chain-rejected",
                $"the pop broke the queue with {actual} {where}, but the ring model finds nothing wrong"
            );
        else if (actual == QueueError.None)
            context.Report(
                Oracle,
                "chain/error-not-reported",
                $"the pop returned nothing and no error {where}, but the ring model says {expected}"
            );
        else
            context.Report(
                Oracle,
                "chain/wrong-error-kind",
                $"the pop broke the queue with {actual} {where}, but the ring model says {expected} (the first rule "
                    + "the chain breaks, in QEMU virtqueue_split_pop's order)"
            );
    }

    private void CompareElement(QueueElement e, FuzzContext context)
    {
        string? why = null;
        if (e.Head != _head)
            why = $"head {e.Head}, model {_head}";
        else if (e.Indirect != _reference.Indirect)
            why = $"indirect {e.Indirect}, model {_reference.Indirect}";
        else if (e.DescriptorCount != _reference.Entries)
            why = $"{e.DescriptorCount} descriptors, model {_reference.Entries}";
        else
            why = Differs(e.Out, _reference.Out, "readable") ?? Differs(e.In, _reference.In, "writable");
        if (why is null)
        {
            ulong outBytes = Sum(_reference.Out),
                inBytes = Sum(_reference.In);
            if (e.OutBytes != outBytes || e.InBytes != inBytes)
                why = $"bytes {e.OutBytes}/{e.InBytes}, model {outBytes}/{inBytes}";
        }
        if (why is not null)
            context.Report(
                Oracle,
                "chain/element-differs",
                $"the popped element of head {_head} differs from the ring model's walk: {why} (QEMU "
                    + "virtqueue_map_desc: one iovec per guest region of each descriptor, readable then writable)"
            );
    }

    private static string? Differs(ReadOnlySpan<Iovec> got, IReadOnlyList<Iovec> want, string what)
    {
        if (got.Length != want.Count)
            return $"{got.Length} {what} iovecs, model {want.Count}";
        for (int i = 0; i < got.Length; i++)
        {
            if (got[i] != want[i])
                return $"{what} iovec {i} [0x{got[i].Addr.Value:x}, +{got[i].Len}), model [0x{want[i].Addr.Value:x}, "
                    + $"+{want[i].Len})";
        }
        return null;
    }

    private static ulong Sum(IReadOnlyList<Iovec> v)
    {
        ulong s = 0;
        for (int i = 0; i < v.Count; i++)
            s += v[i].Len;
        return s;
    }

    private static ushort ReadLe16(GuestMemory memory, ulong at) =>
        memory.TryGetSpan(new GuestAddress(at), 2, out Span<byte> raw)
            ? BinaryPrimitives.ReadUInt16LittleEndian(raw)
            : (ushort)0;
}
