using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Pci;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Factorial;
using Sim.Devices.Virtio.Net;
using Sim.Devices.Virtio.Rng;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Spec.Blk;
using Sim.Spec.Net;
using Virtsim.Fuzz.Targets;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// What the guest reads from device configuration space (issue 12: nothing judged it). Two rules, robust demo,
/// factorial, counter, blk and rng only (each has a model here; the seed flavours' configuration is their seed
/// flaw):
/// <list type="bullet">
/// <item><c>config/generation-unchanged</c>: the driver reads the whole configuration the VIRTIO 1.2 §2.5.1 way
/// (config_generation, the fields, config_generation again); when the bytes differ from its previous read but the
/// generation does not, the device broke §4.1.4.3.1 ("the device MUST present a changed config_generation after the
/// driver has read a device-configuration field if any part of the device configuration space has changed since the
/// last read"). The driver's own writes and a reset start afresh (the driver knows it changed them).</item>
/// <item><c>config/value</c>: the bytes read equal the device's spec file: demo, the le32 state (seed 000
/// <c>virtio_demo_get_config</c> mirrors s-&gt;buff: <see cref="DeviceReferenceModels.DemoInitialState"/> after a
/// reset, the buff of the last opt-1 store the response model judged, or what the driver wrote there since);
/// factorial and counter, QEMU <c>struct virtio_test_config</c> {num_pages, actual, event}: num_pages 0 (robust),
/// actual and event as the driver last wrote them (<c>virtio_test_set_config</c>), all zero after a reset; blk,
/// <c>struct virtio_blk_config</c> as far as the model has it (VIRTIO 1.2 §5.2.4): capacity the disk's size in
/// 512-byte sectors, size_max 0 and geometry 0 (VIRTIO_BLK_F_SIZE_MAX and _GEOMETRY not offered), seg_max the host
/// option, blk_size 512; driver writes change nothing (QEMU <c>virtio_blk_set_config</c> takes only writeback,
/// which is not offered, and <c>virtio_config_modern_readX</c> refreshes the bytes by <c>get_config</c> before each
/// read); rng has no configuration (VIRTIO 1.2 §5.4.4), so every read is all-ones; net,
/// <c>struct virtio_net_config</c> with only VIRTIO_NET_F_MAC offered (VIRTIO 1.2 §5.1.4): the 6-byte mac
/// 52:54:00:12:34:56 (QEMU's default for the first NIC) and nothing after it (reads past byte 6 are all-ones, QEMU
/// virtio_config_readb), as the driver last wrote it (the model stores config writes and keeps them over a reset;
/// QEMU virtio_net_set_config ignores a modern driver's mac write and virtio_net_reset restores the mac, a difference
/// of the model noted in docs/fuzzing-oracles.md).</item>
/// </list>
/// A generation that advances by a multiple of 256 between two reads would hide a change (8 bits, wrapping); the
/// demo value is not judged while the response model does not know the state.
/// </summary>
internal sealed class ConfigSpaceOracle
{
    public const string Oracle = "config";

    private readonly byte[] _model = new byte[BlkSpec.ConfigSize];
    private readonly byte[] _last = new byte[BlkSpec.ConfigSize];
    private readonly byte[] _read = new byte[BlkSpec.ConfigSize];
    private VirtioDevice? _device;
    private ResponseOracle? _responses;
    private FuzzContext? _context;
    private int _size;
    private bool _known;
    private bool _haveLast;
    private byte _lastGeneration;
    private long _resets;
    private long _stores;
    private long _lost;

    /// <summary>True while the oracle judges this execution's device (robust, with a model).</summary>
    public bool IsActive => _device is not null;

    /// <summary>Reads judged since construction (all executions).</summary>
    public long JudgedTotal { get; private set; }

    /// <summary>True when the oracle models <paramref name="device"/> of <paramref name="flavour"/>.</summary>
    public static bool HasModel(VirtioDevice device, Flavour flavour) =>
        flavour == Flavour.Robust
        && device
            is VirtioDemoDevice
                or VirtioFactorialDevice
                or VirtioCounterDevice
                or VirtioBlkDevice
                or VirtioRngDevice
                or VirtioNetDevice;

    /// <summary>Starts judging a fresh <paramref name="device"/> (one execution); one without a model is ignored.
    /// <paramref name="responses"/> is the response oracle that judges the same device's requests (the demo's
    /// state).</summary>
    public void Begin(VirtioDevice device, Flavour flavour, ResponseOracle responses, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = HasModel(device, flavour) && device.ConfigSize <= _model.Length ? device : null;
        _responses = responses;
        _context = context;
        // The net configuration's size is the spec's, not the device's (a device that grew or shrank it is judged).
        _size = device is VirtioNetDevice ? NetSpec.ConfigBytes : device.ConfigSize;
        _resets = device.ResetCount;
        _haveLast = false;
        InitialModel();
        _stores = responses.DemoStores;
        _lost = responses.DemoLost;
    }

    /// <summary>After each device-side op: notes a reset (the model returns to its initial bytes) and, for the demo,
    /// the response model's stores and losses.</summary>
    public void AfterOp()
    {
        if (_device is null || _responses is null)
            return;
        bool lost = _responses.DemoLost != _lost;
        _lost = _responses.DemoLost;
        if (_device.ResetCount != _resets)
        {
            _resets = _device.ResetCount;
            _haveLast = false;
            if (_device is VirtioNetDevice)
                return; // the model's net configuration survives a reset (class summary)
            InitialModel();
            // A request handled unseen in the same op may have stored buff after the reset.
            if (lost && _device is VirtioDemoDevice)
                _known = false;
            _stores = _responses.DemoStores;
            return;
        }
        if (_device is not VirtioDemoDevice)
            return;
        if (lost)
            _known = false;
        if (_responses.DemoStores != _stores)
        {
            _stores = _responses.DemoStores;
            if (_responses.DemoStateKnown)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(_model, _responses.DemoState);
                _known = true;
            }
        }
    }

    /// <summary>The driver wrote <paramref name="data"/> at <paramref name="offset"/>: an access that fits is stored
    /// (the default <c>virtio_config_writeX</c>), then num_pages reads 0 again (factorial, counter); it is the driver's
    /// own change, so the generation rule starts afresh.</summary>
    public void AfterWrite(int offset, ReadOnlySpan<byte> data)
    {
        if (_device is null)
            return;
        _haveLast = false;
        // Blk ignores the write (QEMU virtio_blk_set_config: writeback only, not offered); rng has no bytes.
        if (_device is VirtioBlkDevice or VirtioRngDevice)
            return;
        // The transport splits the access as QEMU's memory core does (QemuAccessSplit); each piece that fits is stored.
        for (int done = 0; done < data.Length; )
        {
            int at = offset + done;
            int piece = QemuAccessSplit.PieceSize(Narrow.AsUInt64Bits(L.ModernDeviceOffset + at), data.Length - done);
            if (at >= 0 && at <= _size - piece)
                data.Slice(done, piece).CopyTo(_model.AsSpan(at));
            done += piece;
        }
        if (_device is not VirtioDemoDevice and not VirtioNetDevice)
            _model.AsSpan(0, 4).Clear();
    }

    /// <summary>One access the guest made (<paramref name="data"/> read at <paramref name="offset"/>), judged against
    /// the model: split as the transport splits it, a piece that does not fit the configuration reads
    /// all-ones.</summary>
    public void JudgeAccess(int offset, ReadOnlySpan<byte> data)
    {
        if (_device is null || !_known || offset < 0 || data.Length > 8)
            return;
        Span<byte> expected = stackalloc byte[data.Length];
        for (int done = 0; done < data.Length; )
        {
            int at = offset + done;
            int piece = QemuAccessSplit.PieceSize(Narrow.AsUInt64Bits(L.ModernDeviceOffset + at), data.Length - done);
            if (at <= _size - piece)
                _model.AsSpan(at, piece).CopyTo(expected[done..]);
            else
                expected.Slice(done, piece).Fill(0xFF);
            done += piece;
        }
        JudgedTotal++;
        if (data.SequenceEqual(expected))
            return;
        Report(
            "config/value",
            $"a {data.Length}-byte read at offset {offset} returned {Convert.ToHexString(data)}, "
                + $"the device's configuration must read {Convert.ToHexString(expected)}"
        );
    }

    /// <summary>The driver's whole-configuration read (VIRTIO 1.2 §2.5.1): <paramref name="generation"/> before and
    /// after <paramref name="bytes"/> were read (<paramref name="stable"/>: they were equal).</summary>
    public void JudgeSnapshot(ReadOnlySpan<byte> bytes, byte generation, bool stable)
    {
        if (_device is null || bytes.Length != _size)
            return;
        JudgedTotal++;
        if (_known && !bytes.SequenceEqual(_model.AsSpan(0, _size)))
        {
            Report(
                "config/value",
                $"the whole configuration read {Convert.ToHexString(bytes)}, the device's must read "
                    + Convert.ToHexString(_model.AsSpan(0, _size))
            );
            return;
        }
        if (_context?.Finding is not null)
            return;
        if (_haveLast && stable && generation == _lastGeneration && !bytes.SequenceEqual(_last.AsSpan(0, _size)))
        {
            Report(
                "config/generation-unchanged",
                $"the configuration changed from {Convert.ToHexString(_last.AsSpan(0, _size))} "
                    + $"to {Convert.ToHexString(bytes)} between two reads while config_generation stayed {generation}"
            );
            return;
        }
        bytes.CopyTo(_last);
        _lastGeneration = generation;
        _haveLast = stable;
    }

    /// <summary>Scratch the target reads the configuration into.</summary>
    public Span<byte> ReadBuffer => _read.AsSpan(0, Math.Min(_size, _read.Length));

    private void InitialModel()
    {
        _model.AsSpan().Clear();
        _known = true;
        if (_device is VirtioDemoDevice)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_model, DeviceReferenceModels.DemoInitialState);
        }
        else if (_device is VirtioBlkDevice blk)
        {
            Span<byte> c = _model;
            BinaryPrimitives.WriteUInt64LittleEndian(
                c[BlkSpec.ConfigCapacityOffset..],
                blk.Backend.SizeBytes >> BlkSpec.SectorShift
            );
            BinaryPrimitives.WriteUInt32LittleEndian(c[BlkSpec.ConfigSegMaxOffset..], blk.Options.SegMax);
            BinaryPrimitives.WriteUInt32LittleEndian(c[BlkSpec.ConfigBlkSizeOffset..], BlkSpec.SectorSize);
        }
        else if (_device is VirtioNetDevice)
        {
            // Written out, not VirtioNetDevice.DefaultMac: the model stays independent of the device it judges.
            ReadOnlySpan<byte> mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
            mac.CopyTo(_model.AsSpan(NetSpec.ConfigMacOffset));
        }
    }

    private void Report(string site, string message) => _context?.Report(Oracle, site, message);
}
