using System.Buffers.Binary;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Input;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// Input format v1 of <see cref="VhostCoreTarget"/>: a one-byte header (bits 0..2: the guest ring's size log, 1..128
/// entries; bit 3: the guest sets used_event/avail flags for EVENT_IDX) and fixed 20-byte operations
/// <c>code(1) a(1) b(1) c(1) x(le64) y(le64)</c>: <c>a</c> picks a variant, <c>b</c> a small number, <c>c</c> the
/// vring index (0 mostly, sometimes out of range), <c>x</c> and <c>y</c> raw values.
/// </summary>
public static class VhostCoreInput
{
    /// <summary>Bytes before the first operation: the one header byte.</summary>
    public const int HeaderLength = 1;

    /// <summary>Bytes per operation: <c>code(1) a(1) b(1) c(1) x(le64) y(le64)</c>.</summary>
    public const int OpLength = 20;
    internal const int OpCount = 16;

    internal const int OpSetOwner = 0;
    internal const int OpResetOwner = 1;
    internal const int OpGetFeatures = 2;
    internal const int OpSetFeatures = 3;
    internal const int OpSetMemTable = 4;
    internal const int OpSetVringNum = 5;
    internal const int OpSetVringAddr = 6;
    internal const int OpSetVringBase = 7;
    internal const int OpGetVringBase = 8;
    internal const int OpSetVringKick = 9;
    internal const int OpSetVringCall = 10;
    internal const int OpSetVringErr = 11;
    internal const int OpBackend = 12;
    internal const int OpKick = 13;
    internal const int OpRun = 14;
    internal const int OpGuest = 15;

    internal readonly record struct Op(int Code, byte A, byte B, byte C, ulong X, ulong Y)
    {
        /// <summary>The vring index: 0 unless <see cref="C"/> asks for another (1 is past vhost-demo's only vring; raw
        /// values reach the 32-bit index range).</summary>
        public uint Index =>
            (C & 0xF0) == 0xF0 ? (uint)(Y >> 32)
            : (C & 0x0F) == 0x0F ? 1u
            : 0u;
    }

    internal static Op ReadOp(ref FuzzInputReader reader)
    {
        int code = reader.ReadByte() % OpCount;
        byte a = reader.ReadByte();
        byte b = reader.ReadByte();
        byte c = reader.ReadByte();
        ulong x = reader.ReadU64();
        ulong y = reader.ReadU64();
        return new Op(code, a, b, c, x, y);
    }

    internal static byte[] Encode(int code, byte a = 0, byte b = 0, byte c = 0, ulong x = 0, ulong y = 0)
    {
        var bytes = new byte[OpLength];
        bytes[0] = (byte)code;
        bytes[1] = a;
        bytes[2] = b;
        bytes[3] = c;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(4), x);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(12), y);
        return bytes;
    }

    private static byte[] Seed(byte header, params byte[][] ops) => [header, .. ops.SelectMany(o => o)];

    /// <summary>QEMU's vhost_dev_start order with identity memory and rings (VhostBackendStarter), then
    /// requests.</summary>
    private static byte[][] Start(byte sizeLog) =>
        [
            Encode(OpSetOwner),
            Encode(OpGetFeatures),
            Encode(OpSetFeatures, 0, 0, 0, ulong.MaxValue),
            Encode(OpSetMemTable, 2, 0, 0, 0x10),
            Encode(OpSetVringNum, 0, (byte)sizeLog),
            Encode(OpSetVringBase),
            Encode(OpSetVringAddr),
            Encode(OpSetVringKick),
            Encode(OpSetVringCall),
            Encode(OpSetVringErr),
            Encode(OpBackend, 1),
        ];

    /// <summary>The guest op (<c>a</c> &amp; 7) that publishes the head in <c>y</c> &gt;&gt; 32
    /// (<see cref="Rings.RingInput.OpPublish"/>).</summary>
    private const byte OpPublishGuest = 3;

    /// <summary>The VMM's userspace address of guest-physical 0, where this header's rings start
    /// (<see cref="Sim.Devices.Vhost.VmmAddressSpace.HostBaseDefault"/>).</summary>
    private const ulong RingUser = Sim.Devices.Vhost.VmmAddressSpace.HostBaseDefault;

    private static readonly byte[] Request = Encode(OpGuest, 8, 0, 0, 1, 0x2333);
    private static readonly byte[] Kick = Encode(OpKick);
    private static readonly byte[] Run = Encode(OpRun, 1);

    internal static IEnumerable<byte[]> Seeds() =>
        RunningVringSeeds()
            .Concat(HostileSeeds())
            .Concat(BoundSeeds())
            .Concat(AccessOkSeeds())
            .Append(KickSwitchSeed())
            .Append(StraddlingTableSeed())
            .Append(SignalSeed())
            .Append(IovecBoundSeed());

    /// <summary>Seeds 1-2: a clean start with requests, then control-plane edits while the vring runs.</summary>
    private static IEnumerable<byte[]> RunningVringSeeds()
    {
        // 1. A clean start, requests, GET_VRING_BASE after stopping (migration's order).
        yield return Seed(
            4,
            [
                .. Start(4),
                Request,
                Request,
                Kick,
                Run,
                Encode(OpBackend, 0),
                Encode(OpGetVringBase),
                Encode(OpSetVringBase, 0, 2),
                Encode(OpBackend, 1),
                Request,
                Kick,
                Run,
            ]
        );
        // 2. Control-plane edits on a running vring: EBUSY resize/rebase, table swaps, ring moves, then a reset.
        yield return Seed(
            3,
            [
                .. Start(3),
                Request,
                Kick,
                Encode(OpSetVringNum, 0, 2),
                Encode(OpSetVringBase, 0, 1),
                Encode(OpSetMemTable, 1, 0, 0, 0x0),
                Encode(OpSetMemTable, 3, 0, 0, 0xB8A),
                Encode(OpSetVringAddr, 1, 8),
                Run,
                Encode(OpSetVringAddr, 4),
                Encode(OpResetOwner),
                Encode(OpGetVringBase),
                Encode(OpSetOwner),
                Request,
                Kick,
                Run,
            ]
        );
    }

    /// <summary>Seeds 3-4: hostile messages (before an owner, bad sizes, flags, padding) and memory tables that map
    /// buffers elsewhere.</summary>
    private static IEnumerable<byte[]> HostileSeeds()
    {
        // 3. Hostile values before and without an owner, odd indices, bad sizes, flags and padding.
        yield return Seed(
            2,
            [
                Encode(OpSetVringNum, 0, 4),
                Encode(OpSetMemTable, 2),
                Encode(OpSetOwner),
                Encode(OpSetOwner),
                Encode(OpSetVringNum, 1),
                Encode(OpSetVringNum, 2, 3),
                Encode(OpSetVringNum, 3, 0, 0, 0, 0x10000),
                Encode(OpSetVringAddr, 2),
                Encode(OpSetVringAddr, 3),
                Encode(OpSetVringAddr, 7, 2, 0, 0, 5),
                Encode(OpSetMemTable, 7),
                Encode(OpSetMemTable, 2 | 8, 0, 0, 0x10, 1),
                Encode(OpSetMemTable, 1, 0, 0, 0x8),
                Encode(OpSetMemTable, 1, 0, 0, 0x6),
                Encode(OpSetMemTable, 1, 0, 0, 0x7),
                Encode(OpSetFeatures, 1, 0, 0, 1UL << 26),
                Encode(OpSetVringBase, 1, 0, 0, 0, 0x10000),
                Encode(OpSetVringKick, 0, 0, 0x0F),
                Encode(OpGetVringBase, 0, 0, 0xF0, 0, 7UL << 32),
                Encode(OpBackend, 1),
            ]
        );
        // 4. A table that lets the rings run but maps buffers elsewhere (shifted, overlapping, huge), then requests.
        yield return Seed(
            4,
            [
                .. Start(4),
                Encode(OpBackend, 0),
                Encode(OpSetMemTable, 3, 0, 0, 0xA9E, 0x100),
                Encode(OpBackend, 1),
                Request,
                Request,
                Kick,
                Run,
                Encode(OpSetMemTable, 2, 0, 0, 0xD0),
                Request,
                Kick,
                Run,
            ]
        );
    }

    /// <summary>
    /// Seed 7: vq_access_ok's avail-ring bound met exactly. The running vring is stopped and started again with raw
    /// ring addresses (SET_VRING_ADDR variant 6: desc = x, avail = y, used = x ^ y) whose used ring is the guest's and
    /// whose available ring ends exactly at the user address limit: 4 + 2 * num bytes without EVENT_IDX, then 6 +
    /// 2 * num with it (VIRTIO 1.2 §2.7.6, Linux vhost_get_avail_size). access_ok passes, so the start must succeed; a
    /// ring size one byte too large fails it (errno/set-backend against the ioctl model's own sizes).
    /// </summary>
    private static IEnumerable<byte[]> AccessOkSeeds()
    {
        const ulong used = RingUser + 0x128; // RingInput.Place(0, 16, 0)'s used ring
        const ulong availPlain = Sim.Devices.Vhost.VhostLimits.UserAddressLimit - (4 + (2 * 16));
        const ulong availEvent = availPlain - 2;
        yield return Seed(
            4,
            [
                .. Start(4),
                Encode(OpBackend, 0),
                Encode(OpSetFeatures, 0, 0, 0, 0),
                Encode(OpSetVringAddr, 6, 0, 0, used ^ availPlain, availPlain),
                Encode(OpBackend, 1),
                Encode(OpBackend, 0),
                Encode(OpSetFeatures, 0, 0, 0, 1UL << Sim.Spec.Virtio.VirtioSpec.FEventIdx),
                Encode(OpSetVringAddr, 6, 0, 0, used ^ availEvent, availEvent),
                Encode(OpBackend, 1),
            ]
        );
    }

    /// <summary>Seeds 5-6: a 1 MiB indirect table at get_indirect's size bound, and a vq_err raised outside a
    /// pop.</summary>
    private static IEnumerable<byte[]> BoundSeeds()
    {
        // 5. get_indirect's table-size bound (Linux: count > USHRT_MAX + 1 is "Indirect buffer length too big"): one
        // region of 2 MiB (kind 9 with y bit 63) so a 1 MiB indirect table translates, then a descriptor with
        // INDIRECT (flags = b >> 5 = 4) over a table of exactly 65,536 entries (b bit 0 clear: valid, its first entry
        // ends the chain), published, kicked; then one of 65,537 entries (b bit 0 set: too big). Random search rarely
        // combines the 2 MiB region with the bound-length bit.
        yield return Seed(
            4,
            [
                .. Start(4),
                Encode(OpBackend, 0),
                Encode(OpSetMemTable, 1, 0, 0, 0x9, 1UL << 63),
                Encode(OpBackend, 1),
                Encode(OpGuest, 0x10, 0x80, 0, 0, 0),
                Encode(OpGuest, OpPublishGuest),
                Kick,
                Run,
                Encode(OpGuest, 0x10, 0x81, 0, 0, 1UL << 48),
                Encode(OpGuest, OpPublishGuest, 0, 0, 0, 1UL << 32),
                Kick,
                Run,
            ]
        );
        // 6. A vq_err outside a pop: SET_VRING_ADDR (raw: desc and avail where they are, used at desc ^ avail =
        // 0x100, a user address nothing maps) on the running vring, without EVENT_IDX; the next kick's
        // vhost_disable_notify faults on used->flags.
        yield return Seed(
            4,
            [
                .. Start(4),
                Encode(OpSetFeatures, 0, 0, 0, 0),
                Encode(OpSetVringAddr, 6, 0, 0, RingUser, RingUser + 0x100),
                Request,
                Kick,
                Run,
            ]
        );
    }

    /// <summary>The guest op (<c>a</c> &amp; 7) that adds a chain (<see cref="Rings.RingInput.OpAddChain"/>).</summary>
    private const byte OpAddChainGuest = 2;

    /// <summary>Pads tried before <see cref="IovecBoundSeed"/> gives up (one in eight samples long tables).</summary>
    private const ulong LongTablePadsMax = 4096;

    /// <summary>
    /// Seed 9 (listed before seed 8, which stays the last): a running vring whose kick eventfd is switched to another
    /// eventfd (the call eventfd), unbound
    /// (VHOST_FILE_UNBIND), then bound to the kick eventfd again before more requests. Linux vhost_vring_ioctl stops
    /// polling the old eventfd and polls the new one at each step (the control-plane oracle's
    /// <c>control-plane/kick-poll</c>); a poll left on the old one strands the later kicks.
    /// </summary>
    private static byte[] KickSwitchSeed() =>
        Seed(
            3,
            [
                .. Start(3),
                Request,
                Kick,
                Run,
                Encode(OpSetVringKick, 2),
                Encode(OpSetVringKick, 1),
                Encode(OpSetVringKick, 0),
                Request,
                Kick,
                Run,
            ]
        );

    /// <summary>
    /// Seed 10 (listed before seed 8): an indirect table of one descriptor that straddles the clean start's two
    /// memory-table regions (8 bytes before <see cref="Rings.RingInput.RegionSize"/>, 8 after), so get_indirect's
    /// translate_desc gives the table two iovecs and copy_from_iter reads its descriptor across them (Linux
    /// drivers/vhost/vhost.c get_indirect). The descriptor is the zeroed memory there: a zero-length buffer without
    /// NEXT, a chain that pops with no iovecs.
    /// </summary>
    private static byte[] StraddlingTableSeed()
    {
        const byte straddling = 3 | (4 << 5); // the guest op's address kind 3 (RegionSize - x), flags INDIRECT
        const byte rawLength = 7; // its length kind: y's low 32 bits
        return Seed(
            3,
            [
                .. Start(3),
                Encode(OpGuest, 0, straddling, rawLength, 8, VirtioSpec.DescSize),
                Encode(OpGuest, OpPublishGuest),
                Kick,
                Run,
            ]
        );
    }

    /// <summary>
    /// Seed 11 (listed before seed 8): EVENT_IDX and NOTIFY_ON_EMPTY acked, three requests and one kick, used_event
    /// left at 0. Linux vhost_notify signals the first completion (signalled_used not yet valid) and the third (the
    /// ring is empty), not the second: used.idx 2 does not pass used_event 0 (<c>vhost-notify/signal-not-needed</c>).
    /// </summary>
    private static byte[] SignalSeed() => Seed(3, [.. Start(3), Request, Request, Request, Kick, Run]);

    /// <summary>
    /// Seed 8: translate_desc's UIO_MAXIOV bound met exactly (Linux: <c>ret = -ENOBUFS</c> when iov runs out, then
    /// vhost_get_vq_desc's vq_err "Translation failure"). The clean start's table has two regions split at
    /// <see cref="Rings.RingInput.RegionSize"/>; a long indirect table (<see cref="Rings.GuestActor"/>'s AddLongTable,
    /// next (y bits 32..47) with its top bits set, INDIRECT in flags, one readable buffer and the rest writable) of
    /// 512 buffers across that split needs exactly 1,024 iovecs and must pop; one of 513 with the first buffer in one
    /// region (next 0xF081) needs 1,025, and the 1,025th must fail with ENOBUFS. A GET_FEATURES op's ignored <c>x</c>
    /// pads the input until its hash turns long tables on (<see cref="VhostCoreTarget.LongTablesByDefault"/>).
    /// </summary>
    private static byte[] IovecBoundSeed()
    {
        const byte indirect = 4 << 5; // the guest op's flags are b >> 5: INDIRECT
        const ulong oneOut = 1UL << 48; // its shape y >> 48: 1, one readable buffer and the rest writable
        for (ulong pad = 0; pad < LongTablePadsMax; pad++)
        {
            byte[] input = Seed(
                4,
                [
                    .. Start(4),
                    Encode(OpGuest, OpAddChainGuest, indirect, 0, 0, oneOut | (0xF000UL << 32) | 7),
                    Kick,
                    Run,
                    Encode(OpGuest, OpAddChainGuest, indirect, 0, 0, oneOut | (0xF081UL << 32) | 7),
                    Kick,
                    Run,
                    Encode(OpGetFeatures, 0, 0, 0, pad),
                ]
            );
            if (VhostCoreTarget.LongTablesByDefault(input))
                return input;
        }
        throw new InvalidOperationException($"no pad below {LongTablePadsMax} samples long tables");
    }
}
