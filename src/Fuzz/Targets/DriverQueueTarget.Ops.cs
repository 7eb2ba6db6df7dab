using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Input;

namespace Virtsim.Fuzz.Targets;

// The driver operations of DriverQueueTarget: each decodes its operands once and runs on both lanes, the fast lane
// through the batch or fused call (or a single call's window path), the reference lane through the sequential calls it
// stands for (DriverQueue.Batch.cs names each reference); then the lanes are compared.
internal sealed partial class DriverQueueTarget
{
    private static readonly string[] Labels =
    [
        "add-batch",
        "add-and-notify",
        "add-chain",
        "add-indirect",
        "publish",
        "notify",
        "reap-batch",
        "reap-all",
        "get-used",
        "has-used",
        "disable-callbacks",
        "enable-callbacks",
        "enable-callbacks-delayed",
        "detach-unused",
        "clear-dirty",
    ];

    private static readonly ulong[] Addresses = [0x4000, 0x9000, 0xfff0, 0x1_0000, 0x8000_0000, ulong.MaxValue - 8, 0];
    private static readonly uint[] Lengths = [0, 1, 8, 16, 64, 512, 0x1000, 0x1_0000, 0xffff_fff0, uint.MaxValue];

    private const int PairsMax = 129; // size / 2 + 1 at size 256
    private const int ReapMax = 257; // size + 1 at size 256
    private const int ChainMax = 4; // readable (and writable) buffers of one chain

    private readonly GuestBuffer[] _readable = new GuestBuffer[PairsMax];
    private readonly GuestBuffer[] _writable = new GuestBuffer[PairsMax];
    private readonly ushort[][] _heads = [new ushort[PairsMax], new ushort[PairsMax]];
    private readonly ushort[][] _ids = [new ushort[ReapMax], new ushort[ReapMax]];
    private readonly uint[][] _lens = [new uint[ReapMax], new uint[ReapMax]];

    /// <summary>Decodes driver operation <paramref name="op"/>, runs it on both lanes and compares them; false once a
    /// difference is reported.</summary>
    private bool RunDriverOp(int op, ref FuzzInputReader reader, FuzzContext context)
    {
        int count = 0;
        int readable = 0;
        int writable = 0;
        int table = 0;
        switch (op)
        {
            case 0:
            case 1:
                // At most PairsMax pairs (a queue of 256's size / 2 + 1; the large queue's batches stop there too).
                count = Math.Min(reader.ReadChoice((_layout.Size / 2) + 2), PairsMax);
                ReadBuffers(ref reader, count, count);
                break;
            case 2:
            case 3:
                readable = reader.ReadChoice(ChainMax + 1);
                writable = reader.ReadChoice(ChainMax + 1);
                if (readable + writable == 0)
                    readable = 1;
                table = reader.ReadChoice(TableSlots);
                ReadBuffers(ref reader, readable, writable);
                break;
            case 6:
            case 7:
                count = Math.Min(reader.ReadChoice(_layout.Size + 2), ReapMax);
                break;
            case 14:
                count = reader.ReadChoice(4); // 0: clear the dirty pages; else the driver is reset (Initialize)
                break;
        }
        if (op == 14 && !SameDirtyPages(context, Labels[op]))
            return false;
        ulong fast;
        ulong reference;
        using (_fastMemory.AsGuest())
            fast = RunFast(op, count, readable, writable, table);
        if (op is 2 or 3)
            NoteBeforeAdd();
        using (_refMemory.AsGuest())
            reference = RunReference(op, count, readable, writable, table, context);
        if (op == 14)
            ClearOrReset(count);
        if (fast != reference)
        {
            return Fail(
                context,
                Labels[op],
                $"'{Labels[op]}' returned different results: fast lane "
                    + $"{Describe(0, op, count)}, reference lane {Describe(1, op, count)}"
            );
        }
        ulong stateFast = State(_fast);
        if (stateFast != State(_ref))
        {
            return Fail(
                context,
                Labels[op],
                $"the driver state differs after '{Labels[op]}': fast lane "
                    + $"{Describe(_fast)}, reference lane {Describe(_ref)}"
            );
        }
        return SameMemory(context, Labels[op])
            && (op is not (2 or 3) || AddAsSpec(context, op, readable, writable))
            && (op != 3 || IndirectAsSpec(context, readable, writable, table))
            && (op != 12 || EnableDelayedAsSpec(context));
    }

    private void ReadBuffers(ref FuzzInputReader reader, int readable, int writable)
    {
        for (int k = 0; k < readable; k++)
            _readable[k] = ReadBuffer(ref reader);
        for (int k = 0; k < writable; k++)
            _writable[k] = ReadBuffer(ref reader);
    }

    private static GuestBuffer ReadBuffer(ref FuzzInputReader reader)
    {
        ulong addr = Addresses[reader.ReadChoice(Addresses.Length)] + reader.ReadByte();
        return new GuestBuffer(new GuestAddress(addr), Lengths[reader.ReadChoice(Lengths.Length)]);
    }

    /// <summary>The fast lane: the batch and fused calls, and the single calls on their window paths.</summary>
    private ulong RunFast(int op, int count, int readable, int writable, int table)
    {
        DriverQueue q = _fast;
        GuestMemory m = _fastMemory;
        int pairs = op is 0 or 1 ? count : 0;
        Span<GuestBuffer> readables = _readable.AsSpan(0, pairs);
        Span<GuestBuffer> writables = _writable.AsSpan(0, pairs);
        Span<ushort> ids = _ids[0].AsSpan(0, op is 6 or 7 ? count : 0);
        Span<uint> lens = _lens[0].AsSpan(0, ids.Length);
        switch (op)
        {
            case 0:
            {
                bool all = q.TryAddBatch(m, readables, writables, _heads[0], out int added);
                return Heads(0, all, added, false);
            }
            case 1:
            {
                bool all = q.TryAddBatchAndNotify(m, readables, writables, _heads[0], out int added, out bool notify);
                return Heads(0, all, added, notify);
            }
            case 6:
            {
                bool any = q.TryGetUsedBatch(m, ids, lens, out int reaped);
                return Reaped(0, any, reaped);
            }
            case 7:
            {
                bool done = q.ReapAll(m, ids, lens, out int reaped);
                return Reaped(0, done, reaped);
            }
            default:
                return RunSingle(0, q, m, op, readable, writable, table);
        }
    }

    /// <summary>The reference lane: what each batch call stands for, one call at a time.</summary>
    private ulong RunReference(int op, int count, int readable, int writable, int table, FuzzContext context)
    {
        DriverQueue q = _ref;
        GuestMemory m = _refMemory;
        switch (op)
        {
            case 0:
            case 1:
            {
                int added = 0;
                ushort[] heads = _heads[1];
                while (added < count && q.TryAdd(m, _readable[added], _writable[added], out heads[added]))
                    added++;
                bool notify = op == 1 && q.NeedsNotify(m);
                return Heads(1, added == count, added, notify);
            }
            case 6:
            {
                int reaped = 0;
                while (reaped < count && q.TryGetUsed(m, out _ids[1][reaped], out _lens[1][reaped]))
                    reaped++;
                return Reaped(1, reaped > 0, reaped);
            }
            case 7:
            {
                // An odd count: ReapAll itself on the observed lane (its own reference body, ReapAllReference, which
                // only an observed call takes), held to the fast lane's ReapDirect like the loop below.
                if ((count & 1) != 0)
                {
                    context.Step(); // one pass at least, as the loop below counts each
                    bool done = q.ReapAll(m, _ids[1].AsSpan(0, count), _lens[1].AsSpan(0, count), out int n);
                    return Reaped(1, done, n);
                }
                // Linux virtblk_done / virtnet_poll: do { disable_cb; while (get_buf) ...; if broken, stop; }
                // while (!enable_cb); stopping early when the caller's spans are full.
                int reaped = 0;
                while (true)
                {
                    context.Step();
                    q.DisableCallbacks(m);
                    while (reaped < count && q.TryGetUsed(m, out _ids[1][reaped], out _lens[1][reaped]))
                        reaped++;
                    if (reaped == count || q.Broken)
                        return Reaped(1, false, reaped);
                    if (q.EnableCallbacks(m))
                        return Reaped(1, true, reaped);
                }
            }
            default:
                return RunSingle(1, q, m, op, readable, writable, table);
        }
    }

    /// <summary>The calls with no batch form, the same on both lanes (the fast lane takes their window
    /// paths).</summary>
    private ulong RunSingle(int lane, DriverQueue q, GuestMemory m, int op, int readable, int writable, int table)
    {
        ReadOnlySpan<GuestBuffer> r = _readable.AsSpan(0, readable);
        ReadOnlySpan<GuestBuffer> w = _writable.AsSpan(0, writable);
        switch (op)
        {
            case 2:
            {
                bool ok = q.TryAdd(m, r, w, out ushort head);
                if (lane == 1)
                    (_chainAdded, _chainHead) = (ok, head);
                return Mix(Mix(0x2, ok ? 1UL : 0), head);
            }
            case 3:
            {
                var at = new GuestAddress(TableBase + (ulong)(table * TableStride));
                bool ok = q.TryAddIndirect(m, r, w, at, out ushort head);
                if (lane == 1)
                    (_indirectAdded, _indirectHead) = (ok, head);
                return Mix(Mix(0x3, ok ? 1UL : 0), head);
            }
            case 4:
                q.Publish(m);
                return 0x4;
            case 5:
                return Mix(0x5, q.NeedsNotify(m) ? 1UL : 0);
            case 8:
            {
                bool ok = q.TryGetUsed(m, out ushort id, out uint len);
                return Mix(Mix(Mix(0x8, ok ? 1UL : 0), id), len);
            }
            case 9:
                return Mix(0x9, q.HasUsed(m) ? 1UL : 0);
            case 10:
                q.DisableCallbacks(m);
                return 0xa;
            case 11:
                return Mix(0xb, q.EnableCallbacks(m) ? 1UL : 0);
            case 12:
            {
                (RingIndex lastUsed, RingIndex avail, bool broken) = (q.LastUsed, q.AvailIdx, q.Broken);
                bool ok = q.EnableCallbacksDelayed(m);
                if (lane == 1)
                    _delayed = (lastUsed, avail, broken, ok);
                return Mix(0xc, ok ? 1UL : 0);
            }
            case 13:
            {
                bool ok = q.TryDetachUnused(m, out ushort head);
                return Mix(Mix(0xd, ok ? 1UL : 0), head);
            }
            default:
                _ = lane;
                return 0xe;
        }
    }

    /// <summary>Op 14 after the dirty pages compared equal: clear them, or (operand 1..3) reset the driver as a
    /// device reset makes a Linux driver re-create its rings (Initialize zeroes them) and take a fresh
    /// device.</summary>
    private void ClearOrReset(int operand)
    {
        if (operand != 0)
        {
            using (_fastMemory.AsGuest())
                _fast.Initialize(_fastMemory);
            using (_refMemory.AsGuest())
                _ref.Initialize(_refMemory);
            _device.Reset(_layout);
        }
        _fastMemory.ClearDirty();
        _refMemory.ClearDirty();
    }

    private ulong Heads(int lane, bool all, int added, bool notify)
    {
        ulong h = Mix(Mix(Mix(0x100, all ? 1UL : 0), (ulong)added), notify ? 1UL : 0);
        for (int k = 0; k < added; k++)
            h = Mix(h, _heads[lane][k]);
        return h;
    }

    private ulong Reaped(int lane, bool answer, int reaped)
    {
        ulong h = Mix(Mix(0x200, answer ? 1UL : 0), (ulong)reaped);
        for (int k = 0; k < reaped; k++)
            h = Mix(Mix(h, _ids[lane][k]), _lens[lane][k]);
        return h;
    }

    /// <summary>Everything the driver's public surface says about its state, and each head's writable bytes (its
    /// desc_state); and the per-head queries for the first index past the table, which must answer, never throw (a
    /// device's used id may be any value: Linux virtqueue_get_buf_ctx_split checks
    /// <c>i &gt;= vq-&gt;split.vring.num</c> before it reads desc_state).</summary>
    private static ulong State(DriverQueue q)
    {
        ulong h = Mix(Mix(Mix(0x300, (ulong)q.Error), (ulong)q.FreeCount), (ulong)q.Outstanding);
        h = Mix(Mix(Mix(h, q.AvailIdx.Value), q.LastUsed.Value), q.CallbacksEnabled ? 1UL : 0);
        // The large queue's heads past 256 are not hashed (16384 per lane per operation cost more than the rest).
        int heads = Math.Min(q.Size, 256);
        for (int i = 0; i < heads; i++)
            h = Mix(h, q.WritableBytes((ushort)i));
        var past = (ushort)q.Size;
        return Mix(Mix(h, q.WritableBytes(past)), q.IsOutstanding(past) ? 1UL : 0);
    }

    private static ulong Mix(ulong h, ulong v) =>
        (System.Numerics.BitOperations.RotateLeft(h, 23) ^ v) * 0x9E3779B97F4A7C15UL;

    private string Describe(int lane, int op, int count) =>
        op switch
        {
            0 or 1 => $"heads [{string.Join(", ", _heads[lane].Take(count))}]",
            6 or 7 => $"used [{string.Join(", ", _ids[lane].Take(count).Zip(_lens[lane], (i, l) => $"{i}:{l}"))}]",
            _ => "(a single call's answer)",
        } + $" (state {Describe(lane == 0 ? _fast : _ref)})";

    private static string Describe(DriverQueue q) =>
        $"error {q.Error}, free {q.FreeCount}, outstanding {q.Outstanding}, avail {q.AvailIdx}, "
        + $"last used {q.LastUsed}, callbacks {(q.CallbacksEnabled ? "on" : "off")}";
}
