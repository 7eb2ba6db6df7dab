using System.Buffers.Binary;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Input;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// Input format v1 of <see cref="VirtioPciTarget"/>: a one-byte header (bit 0: two MSI-X vectors; bit 1: no ioeventfd)
/// and fixed 12-byte operations <c>code(1) a(1) reg(le16) value(le64)</c>. <c>a</c> carries the access size
/// (bits 0..1: 1, 2, 4 or 8 bytes) and per-op choices; <c>reg</c> an offset (biased to the register starts when
/// <c>a</c> bit 2 is set) or a ring size/shape; <c>value</c> the data. A run op lets 1..8 windows of
/// <see cref="VirtioPciTarget.RunWindowNs"/> pass, or with <c>a</c> bit 7 (<see cref="RunShort"/>) 1..
/// <see cref="ShortRunNsMax"/> ns, so the next op can land between a backend's call and the main loop's read of it.
/// </summary>
internal static class VirtioPciInput
{
    public const int HeaderLength = 1;
    public const int OpLength = 12;
    public const int OpCount = 16;

    public const int OpCommonWrite = 0;
    public const int OpCommonRead = 1;
    public const int OpIsr = 2;
    public const int OpDeviceConfig = 3;
    public const int OpNotify = 4;
    public const int OpLegacyWrite = 5;
    public const int OpLegacyRead = 6;
    public const int OpPciConfigWrite = 7;
    public const int OpPciConfigRead = 8;
    public const int OpMsixWrite = 9;
    public const int OpModernInit = 10;
    public const int OpLegacyInit = 11;
    public const int OpPost = 12;
    public const int OpRun = 13;
    public const int OpReset = 14;
    public const int OpEnumerate = 15;

    /// <summary>OpRun's <c>a</c> bit 7: a short run of <see cref="ShortRunNs"/> instead of whole windows.</summary>
    public const byte RunShort = 0x80;

    /// <summary>Longest short run: a few times an ioeventfd's, a vhost worker's and a main-loop wake-up's latency
    /// (LatencyModel: 1,060 + 4,000 + 4,000 ns), so a short run can stop anywhere inside that chain.</summary>
    public const long ShortRunNsMax = 16_384;

    /// <summary>The length of a short run (1..<see cref="ShortRunNsMax"/> ns) an OpRun's value encodes.</summary>
    public static long ShortRunNs(ulong value) => 1 + (long)(value % (ulong)ShortRunNsMax);

    /// <summary>The common configuration's register starts (VIRTIO 1.2 §4.1.4.3), including the upper halves of the
    /// 64-bit ring addresses.</summary>
    private static readonly int[] CommonRegisters =
    [
        L.CommonDeviceFeatureSelect,
        L.CommonDeviceFeature,
        L.CommonDriverFeatureSelect,
        L.CommonDriverFeature,
        L.CommonConfigMsixVector,
        L.CommonNumQueues,
        L.CommonDeviceStatus,
        L.CommonConfigGeneration,
        L.CommonQueueSelect,
        L.CommonQueueSize,
        L.CommonQueueMsixVector,
        L.CommonQueueEnable,
        L.CommonQueueNotifyOff,
        L.CommonQueueDesc,
        L.CommonQueueDesc + 4,
        L.CommonQueueDriver,
        L.CommonQueueDriver + 4,
        L.CommonQueueDevice,
        L.CommonQueueDevice + 4,
    ];

    /// <summary>The legacy registers (VIRTIO 1.2 §4.1.4.8).</summary>
    private static readonly int[] LegacyRegisters =
    [
        L.LegacyHostFeatures,
        L.LegacyGuestFeatures,
        L.LegacyQueuePfn,
        L.LegacyQueueNum,
        L.LegacyQueueSel,
        L.LegacyQueueNotify,
        L.LegacyStatus,
        L.LegacyIsr,
        L.LegacyConfigVector,
        L.LegacyQueueVector,
    ];

    public readonly record struct Op(int Code, byte A, ushort Reg, ulong Value);

    public static Op ReadOp(ref FuzzInputReader reader)
    {
        int code = reader.ReadByte() % OpCount;
        byte a = reader.ReadByte();
        ushort reg = reader.ReadU16();
        ulong value = reader.ReadU64();
        return new Op(code, a, reg, value);
    }

    /// <summary>A common-config offset: a register start when <paramref name="a"/> bit 2 is set, else any of the first
    /// 64 bytes (misaligned and in-between offsets included).</summary>
    public static int CommonOffset(byte a, ushort reg) =>
        (a & 4) != 0 ? CommonRegisters[reg % CommonRegisters.Length] : reg % 0x40;

    /// <summary>A legacy offset: a register start when <paramref name="a"/> bit 2 is set, else any of the first 32
    /// bytes (device config from 20 or 24 on).</summary>
    public static int LegacyOffset(byte a, ushort reg) =>
        (a & 4) != 0 ? LegacyRegisters[reg % LegacyRegisters.Length] : reg % 32;

    public static byte[] Encode(int code, byte a, ushort reg, ulong value)
    {
        var b = new byte[OpLength];
        b[0] = (byte)code;
        b[1] = a;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2), reg);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(4), value);
        return b;
    }

    /// <summary>Reads every common register at its start (4-byte accesses; the 16-bit ones too, as QEMU
    /// allows).</summary>
    private static IEnumerable<byte[]> ReadAllCommon()
    {
        for (ushort i = 0; i < CommonRegisters.Length; i++)
            yield return Encode(OpCommonRead, 4 | 1, i, 0);
    }

    private static IEnumerable<byte[]> ReadAllLegacy()
    {
        for (ushort i = 0; i < LegacyRegisters.Length; i++)
            yield return Encode(OpLegacyRead, 4 | 2, i, 0);
    }

    private static byte[] Seed(byte header, params IEnumerable<byte[]>[] parts) =>
        [header, .. parts.SelectMany(p => p).SelectMany(b => b)];

    private static byte[][] Ops(params byte[][] ops) => ops;

    /// <summary>Valid scenarios that reach the deep states: both drivers, requests in flight across resets, feature
    /// refusal, MSI-X, BAR moves and bus mastering off under DRIVER_OK, a vhost stop with a call in flight, a restart
    /// without a reset.</summary>
    public static IEnumerable<byte[]> Seeds() =>
        DriverSeeds()
            .Concat(LifecycleSeeds())
            .Concat(PciSeeds())
            .Append(StopWithCallInFlightSeed())
            .Append(RestartWithoutResetSeed());

    // Valid demo requests: opt 1 stores buff, opt 0 reads it back; a run completes what was posted.
    private static byte[] Post1 => Encode(OpPost, 1 | 2, 0, 0x1234_5678_0000_0001);
    private static byte[] Post0 => Encode(OpPost, 1 | 2, 0, 0);
    private static byte[] Run => Encode(OpRun, 1, 0, 0);

    /// <summary>Seeds 1-2: each driver (modern, legacy) with requests and every register read back.</summary>
    private static IEnumerable<byte[]> DriverSeeds()
    {
        byte[] post1 = Post1;
        byte[] post0 = Post0;
        byte[] run = Run;
        // 1. Modern driver, requests, register read-back, ISR, config snapshots around a config change.
        yield return Seed(
            0,
            Ops(
                Encode(OpModernInit, 0, 4, ulong.MaxValue),
                Encode(OpDeviceConfig, 0, 0, 0),
                post1,
                run,
                Encode(OpDeviceConfig, 0, 0, 0),
                post0,
                run
            ),
            ReadAllCommon(),
            Ops(Encode(OpIsr, 0, 0, 0), Encode(OpDeviceConfig, 0, 0, 0))
        );
        // 2. Legacy driver through the I/O BAR, legacy notify and ISR.
        yield return Seed(
            2,
            Ops(Encode(OpLegacyInit, 0, 0, ulong.MaxValue), Encode(OpPost, 1 | 2 | 4, 0, 1), run),
            ReadAllLegacy(),
            Ops(Encode(OpIsr, 4, 0, 0))
        );
    }

    /// <summary>Seeds 3-4: requests in flight across resets and re-initialisations, and feature refusal.</summary>
    private static IEnumerable<byte[]> LifecycleSeeds()
    {
        byte[] post1 = Post1;
        byte[] post0 = Post0;
        byte[] run = Run;
        // 3. Requests in flight across a reset, then a re-initialisation with other features and ring placement.
        yield return Seed(
            0,
            Ops(
                Encode(OpModernInit, 0, 3, ulong.MaxValue),
                post1,
                post0,
                Encode(OpReset, 0, 0, 0),
                run,
                Encode(OpModernInit, 0x80 | (5 << 2), 6, 1UL << 28),
                post1,
                run,
                Encode(OpReset, 2, 0, 0),
                Encode(OpCommonRead, 4 | 1, 9, 0),
                Encode(OpModernInit, 0, 7, 0),
                post0,
                Encode(OpReset, 3, 0, 0),
                Encode(OpEnumerate, 0, 0, 0),
                Encode(OpModernInit, 0, 7, 0),
                post1,
                run
            )
        );
        // 4. Feature refusal: an unoffered bit (63), then a driver that sets DRIVER_OK anyway; no VERSION_1.
        yield return Seed(
            0,
            Ops(
                Encode(OpModernInit, 0x20 | 0x40, 4, 63UL << 58),
                Encode(OpCommonRead, 4, 6, 0),
                post1,
                run,
                Encode(OpModernInit, 0x10, 4, ulong.MaxValue),
                post1,
                run
            )
        );
    }

    /// <summary>Seeds 5-7: the PCI side under a running driver: MSI-X, BAR moves, bus mastering off, odd register
    /// accesses.</summary>
    private static IEnumerable<byte[]> PciSeeds()
    {
        byte[] post1 = Post1;
        byte[] post0 = Post0;
        byte[] run = Run;
        // 5. MSI-X: enable, vectors, table entries, then requests.
        yield return Seed(
            1,
            Ops(
                Encode(OpPciConfigWrite, 0x30 | 2, 0, 1),
                Encode(OpModernInit, 0, 4, ulong.MaxValue),
                Encode(OpMsixWrite, 2, 0, 0xFEE0_0000),
                Encode(OpMsixWrite, 2, 8, 0x30),
                Encode(OpMsixWrite, 2, 12, 0),
                post1,
                run,
                Encode(OpCommonWrite, 4 | 1, 4, 7),
                Encode(OpCommonRead, 4 | 1, 4, 0),
                Encode(OpLegacyWrite, 4 | 1, 8, 1),
                Encode(OpLegacyRead, 4 | 1, 8, 0),
                Encode(OpPciConfigWrite, 0x30 | 2, 0, 2),
                post0,
                run
            )
        );
        // 6. BAR sizing and moves, bus mastering off under DRIVER_OK, and the PCI configuration access window.
        yield return Seed(
            0,
            Ops(
                Encode(OpModernInit, 0, 4, ulong.MaxValue),
                post1,
                Encode(OpPciConfigWrite, 0x20 | 1, 0, 0x3),
                run,
                Encode(OpCommonRead, 4, 6, 0),
                Encode(OpPciConfigWrite, 0x10 | 2, 4, 0),
                Encode(OpPciConfigWrite, 0x10 | 2, 0, 0),
                Encode(OpEnumerate, 0, 0, 0),
                Encode(OpModernInit, 0, 4, ulong.MaxValue),
                post0,
                run,
                Encode(OpPciConfigRead, 2, 0x10, 0)
            )
        );
        // 7. Odd writes: queue_size while enabled, queue_enable 0, selects out of range, misaligned and 8-byte
        // accesses.
        yield return Seed(
            0,
            Ops(
                Encode(OpModernInit, 0, 4, ulong.MaxValue),
                Encode(OpCommonWrite, 4 | 1, 9, 3),
                Encode(OpCommonRead, 4 | 1, 9, 0),
                Encode(OpCommonWrite, 4 | 1, 8, 5000),
                Encode(OpCommonRead, 4 | 1, 8, 0),
                Encode(OpCommonWrite, 4 | 2, 2, 7),
                Encode(OpCommonRead, 4 | 2, 3, 0),
                Encode(OpCommonWrite, 3, 0x20, 0x1122_3344_5566_7788),
                Encode(OpCommonRead, 3, 0x20, 0),
                Encode(OpCommonWrite, 0, 0x17, 1),
                Encode(OpCommonWrite, 4 | 1, 11, 0),
                post1,
                run,
                Encode(OpCommonRead, 2, 0x14, 0)
            )
        );
    }

    /// <summary>Seed 8: the driver clears DRIVER_OK 4,000 ns after a kick, between the backend's call and the main
    /// loop's read of it (ioeventfd 1,060 ns, worker wake-up, call; the userspace guest notifier wakes 4,000 ns after
    /// the call), so a vhost stop must deliver the call itself (QEMU virtio_queue_set_guest_notifier_fd_handler's
    /// last read). The QEMU-style device has completed by then, so the stop is only a status write for it.</summary>
    private static byte[] StopWithCallInFlightSeed() =>
        Seed(
            0,
            Ops(
                Encode(OpModernInit, 0, 4, ulong.MaxValue),
                Post1,
                Encode(OpRun, RunShort, 0, 4_000 - 1),
                Encode(OpCommonWrite, 4, 6, 0x0B),
                Encode(OpCommonRead, 4, 6, 0)
            )
        );

    /// <summary>Seed 10, of the vhost frontend targets only: more chains available at one kick than the fuzz targets'
    /// vhost packet weight (16). One request posted without a kick, the available index stepped 20 on (those slots
    /// name head 0 again), one more request with a kick, a run: a backend must yield at the weight and requeue
    /// itself (the robust one does; the seed's passes pkts 0 to vhost_exceeds_weight and fetches all 22,
    /// <c>weight/chain-past-packet-weight</c>). The register fuzzer's posts publish one chain each, so without this
    /// seed a campaign reaches a weight only through an index jump of its own.</summary>
    public static byte[] WeightBurstSeed() =>
        Seed(
            0,
            Ops(
                Encode(OpModernInit, 0, 5, ulong.MaxValue),
                Encode(OpPost, 1, 0, 0x1234_5678_0000_0001),
                Encode(OpPost, Rings.RingInput.OpSetAvailIdx << 4, 0, 20UL << 16),
                Post1,
                Run
            )
        );

    /// <summary>Seed 9: a request answered, then DRIVER_OK cleared and set again with no reset (status 0x0B, 0x0F: QEMU
    /// stops and restarts vhost, handing last_avail_idx back through VHOST_GET_VRING_BASE / VHOST_SET_VRING_BASE) and
    /// a second request: the device must resume after the first chain, not take it again
    /// (<c>used-ring/completed-chain-refetched</c>).</summary>
    private static byte[] RestartWithoutResetSeed() =>
        Seed(
            0,
            Ops(
                Encode(OpModernInit, 0, 4, ulong.MaxValue),
                Post1,
                Run,
                Encode(OpCommonWrite, 4, 6, 0x0B),
                Encode(OpCommonWrite, 4, 6, 0x0F),
                Post0,
                Run
            )
        );
}
