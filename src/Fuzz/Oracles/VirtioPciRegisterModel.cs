using System.Numerics;
using Sim.Devices.Virtio.Transport;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The driver's view of the virtio PCI registers, kept outside the transport (STYLE item 12): a shadow of what each
/// register must read back given only what the driver wrote, following VIRTIO 1.2 §4.1.4.3 (common configuration),
/// §4.1.4.8 (legacy I/O interface) and, where the spec leaves it open, QEMU hw/virtio/virtio-pci.c (selects out of
/// range ignored, a vector the MSI-X table lacks reads VIRTIO_MSI_NO_VECTOR, unknown offsets read 0 in the modern
/// region and all-ones in the legacy one). Accesses are fed per piece, as QEMU's memory core splits them
/// (<c>QemuAccessSplit</c>): <see cref="CommonWrite"/>/<see cref="CommonRead"/> with the piece's offset and value.
/// Oracle <c>transport</c>, sites <c>transport/common-readback</c>, <c>transport/legacy-readback</c>,
/// <c>transport/queue-size</c>; the status, ISR and generation rules are separate methods called by the target around
/// the accesses they judge.
/// </summary>
internal sealed class VirtioPciRegisterModel
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "transport";

    private readonly int[] _queueMaxSizes;
    private readonly ushort[] _queueVectors;
    private readonly ulong[] _desc;
    private readonly ulong[] _driver;
    private readonly ulong[] _device;
    private readonly bool[] _enabled;
    private readonly uint[] _driverWords = new uint[2];
    private uint _deviceFeatureSelect;
    private uint _driverFeatureSelect;
    private ushort _queueSelect;
    private ushort _configVector;

    /// <param name="queueMaxSizes">Each queue's maximum size (what queue_size reads after reset).</param>
    /// <param name="offeredModern">Features offered through device_feature (VIRTIO 1.2 §4.1.4.3: the 64 bits a modern
    /// driver sees; legacy-only bits excluded).</param>
    /// <param name="hostFeaturesLow">What HOST_FEATURES reads (the legacy interface's 32 bits).</param>
    /// <param name="msixVectors">MSI-X table size (0 = none).</param>
    public VirtioPciRegisterModel(int[] queueMaxSizes, ulong offeredModern, uint hostFeaturesLow, int msixVectors)
    {
        ArgumentNullException.ThrowIfNull(queueMaxSizes);
        _queueMaxSizes = queueMaxSizes;
        OfferedModern = offeredModern;
        HostFeaturesLow = hostFeaturesLow;
        MsixVectors = msixVectors;
        int n = queueMaxSizes.Length;
        _queueVectors = new ushort[n];
        _desc = new ulong[n];
        _driver = new ulong[n];
        _device = new ulong[n];
        _enabled = new bool[n];
        Reset();
    }

    /// <summary>Where findings go.</summary>
    public FuzzContext? Context { get; set; }

    public ulong OfferedModern { get; }

    public uint HostFeaturesLow { get; }

    public int MsixVectors { get; }

    /// <summary>The features the driver accepted last: both driver_feature words, or the legacy GUEST_FEATURES when
    /// that was written after them (a transitional device has one feature set behind both interfaces; QEMU
    /// virtio_set_features).</summary>
    public ulong DriverFeatures =>
        _featuresFromLegacy ? _legacyFeatures : ((ulong)_driverWords[1] << 32) | _driverWords[0];

    private uint _legacyFeatures;
    private bool _featuresFromLegacy;

    /// <summary>The queue the driver selected (common queue_select or legacy QUEUE_SEL; one register behind
    /// both).</summary>
    public ushort QueueSelect => _queueSelect;

    /// <summary>True when the driver wrote queue_enable = 1 for <paramref name="queue"/> since the last
    /// reset.</summary>
    public bool Enabled(int queue) => (uint)queue < (uint)_enabled.Length && _enabled[queue];

    /// <summary>Device reset (status 0, legacy QUEUE_PFN 0, PCI reset): every register back to its reset value
    /// (VIRTIO 1.2 §2.4: "the device MUST reinitialize" its fields; QEMU virtio_pci_reset + virtio_reset).</summary>
    public void Reset()
    {
        _deviceFeatureSelect = 0;
        _driverFeatureSelect = 0;
        Array.Clear(_driverWords);
        _legacyFeatures = 0;
        _featuresFromLegacy = false;
        _queueSelect = 0;
        _configVector = L.NoVector;
        Array.Fill(_queueVectors, L.NoVector);
        Array.Clear(_desc);
        Array.Clear(_driver);
        Array.Clear(_device);
        Array.Clear(_enabled);
    }

    private bool HasQueue => _queueSelect < _queueMaxSizes.Length;

    private ushort Usable(uint value) => value < (uint)MsixVectors ? (ushort)value : L.NoVector;

    /// <summary>A write piece to the common configuration at <paramref name="offset"/>; <paramref name="status"/> is
    /// the device status at the time (driver_feature is read-only once FEATURES_OK is set, QEMU
    /// virtio_set_features).</summary>
    public void CommonWrite(int offset, uint value, VirtioStatus status)
    {
        int q = _queueSelect;
        bool has = HasQueue;
        switch (offset)
        {
            case L.CommonDeviceFeatureSelect:
                _deviceFeatureSelect = value;
                break;
            case L.CommonDriverFeatureSelect:
                _driverFeatureSelect = value;
                break;
            case L.CommonDriverFeature:
                if (_driverFeatureSelect <= 1 && (status & VirtioStatus.FeaturesOk) == 0)
                {
                    _driverWords[_driverFeatureSelect] = value;
                    _featuresFromLegacy = false;
                }
                break;
            case L.CommonConfigMsixVector:
                _configVector = Usable(value);
                break;
            case L.CommonQueueSelect:
                if (value < VirtioPciTransport.QueueSelectMax)
                    _queueSelect = (ushort)value;
                break;
            case L.CommonQueueMsixVector:
                if (has)
                    _queueVectors[q] = Usable(value);
                break;
            case L.CommonQueueEnable:
                if (has && value == 1)
                    _enabled[q] = true;
                break;
            case L.CommonQueueDesc:
                if (has)
                    _desc[q] = Low(_desc[q], value);
                break;
            case L.CommonQueueDesc + 4:
                if (has)
                    _desc[q] = High(_desc[q], value);
                break;
            case L.CommonQueueDriver:
                if (has)
                    _driver[q] = Low(_driver[q], value);
                break;
            case L.CommonQueueDriver + 4:
                if (has)
                    _driver[q] = High(_driver[q], value);
                break;
            case L.CommonQueueDevice:
                if (has)
                    _device[q] = Low(_device[q], value);
                break;
            case L.CommonQueueDevice + 4:
                if (has)
                    _device[q] = High(_device[q], value);
                break;
            default:
                break;
        }
    }

    /// <summary>Judges a read piece of <paramref name="size"/> bytes at <paramref name="offset"/> that returned
    /// <paramref name="value"/>. Registers whose value the driver cannot predict (status, generation) are judged
    /// elsewhere; queue_size is judged by its invariant (§4.1.4.3.2 / §2.7: a power of two no larger than the
    /// maximum, 0 for an absent queue).</summary>
    public bool CommonRead(int offset, int size, uint value)
    {
        int q = _queueSelect;
        bool has = HasQueue;
        uint? expect = offset switch
        {
            L.CommonDeviceFeatureSelect => _deviceFeatureSelect,
            L.CommonDeviceFeature => _deviceFeatureSelect <= 1
                ? (uint)(OfferedModern >> (32 * (int)_deviceFeatureSelect))
                : 0,
            L.CommonDriverFeatureSelect => _driverFeatureSelect,
            L.CommonDriverFeature => _driverFeatureSelect <= 1 ? _driverWords[_driverFeatureSelect] : 0,
            L.CommonConfigMsixVector => _configVector,
            L.CommonNumQueues => (uint)_queueMaxSizes.Length,
            L.CommonDeviceStatus or L.CommonConfigGeneration => null,
            L.CommonQueueSelect => _queueSelect,
            L.CommonQueueSize => has ? null : 0,
            L.CommonQueueMsixVector => has ? _queueVectors[q] : L.NoVector,
            L.CommonQueueEnable => has && _enabled[q] ? 1u : 0,
            L.CommonQueueNotifyOff => _queueSelect, // QEMU: "Simply map queues in order"
            L.CommonQueueDesc => has ? (uint)_desc[q] : 0,
            L.CommonQueueDesc + 4 => has ? (uint)(_desc[q] >> 32) : 0,
            L.CommonQueueDriver => has ? (uint)_driver[q] : 0,
            L.CommonQueueDriver + 4 => has ? (uint)(_driver[q] >> 32) : 0,
            L.CommonQueueDevice => has ? (uint)_device[q] : 0,
            L.CommonQueueDevice + 4 => has ? (uint)(_device[q] >> 32) : 0,
            _ => 0,
        };
        if (offset == L.CommonQueueSize && has && size >= 2)
            return CheckQueueSize("common queue_size", (ushort)value, q);
        if (expect is null)
            return true;
        uint e = Truncate(expect.Value, size);
        return Check(
            e == value,
            "transport/common-readback",
            $"common config read of {size} bytes at 0x{offset:x2} returned 0x{value:x}, the driver's writes say "
                + $"0x{e:x} (VIRTIO 1.2 §4.1.4.3)"
        );
    }

    /// <summary>A write piece to the legacy registers below the device-config offset (QEMU virtio_ioport_write). Resets
    /// (status 0, QUEUE_PFN 0) are reported by the target through <see cref="Reset"/>.</summary>
    public void LegacyWrite(int offset, uint value, bool msixEnabled, VirtioStatus status)
    {
        switch (offset)
        {
            case L.LegacyGuestFeatures:
                if ((status & VirtioStatus.FeaturesOk) == 0)
                {
                    _legacyFeatures = value;
                    _featuresFromLegacy = true;
                }
                break;
            case L.LegacyQueueSel:
                if (value < VirtioPciTransport.QueueSelectMax)
                    _queueSelect = (ushort)value;
                break;
            case L.LegacyConfigVector when msixEnabled:
                _configVector = Usable(value & 0xFFFF);
                break;
            case L.LegacyQueueVector when msixEnabled:
                if (HasQueue)
                    _queueVectors[_queueSelect] = Usable(value & 0xFFFF);
                break;
            default:
                break;
        }
    }

    /// <summary>Judges a legacy read piece below the device-config offset (VIRTIO 1.2 §4.1.4.8).</summary>
    public bool LegacyRead(int offset, int size, uint value, bool msixEnabled)
    {
        bool has = HasQueue;
        uint? expect = offset switch
        {
            L.LegacyHostFeatures => HostFeaturesLow,
            L.LegacyGuestFeatures or L.LegacyQueuePfn or L.LegacyStatus or L.LegacyIsr => null,
            L.LegacyQueueNum => has ? null : 0,
            L.LegacyQueueSel => _queueSelect,
            L.LegacyConfigVector when msixEnabled => _configVector,
            L.LegacyQueueVector when msixEnabled => has ? _queueVectors[_queueSelect] : L.NoVector,
            _ => uint.MaxValue,
        };
        if (offset == L.LegacyQueueNum && has && size >= 2)
            return CheckQueueSize("legacy QUEUE_NUM", (ushort)value, _queueSelect);
        if (expect is null)
            return true;
        uint e = Truncate(expect.Value, size);
        return Check(
            e == value,
            "transport/legacy-readback",
            $"legacy register read of {size} bytes at {offset} returned 0x{value:x}, the driver's writes say 0x{e:x} "
                + "(VIRTIO 1.2 §4.1.4.8)"
        );
    }

    /// <summary>§4.1.4.3.2 / §2.7: a present queue's size is a power of two (split ring) and at most its
    /// maximum.</summary>
    private bool CheckQueueSize(string register, ushort value, int queue) =>
        Check(
            value != 0 && BitOperations.IsPow2(value) && value <= _queueMaxSizes[queue],
            "transport/queue-size",
            $"{register} of queue {queue} reads {value}: not a power of two in 1..{_queueMaxSizes[queue]} (VIRTIO 1.2 "
                + "§2.7, §4.1.4.3)"
        );

    /// <summary>
    /// The status rules around one driver write of <paramref name="written"/>, given the status read just before
    /// (<paramref name="before"/>) and just after (<paramref name="after"/>), with nothing else happening in between:
    /// 0 resets (reads 0, §2.4); FEATURES_OK newly set with VERSION_1 and a bit the device did not offer reads back
    /// clear (§3.1.1 step 6, §2.2.2); DEVICE_NEEDS_RESET is never taken from the driver (§2.1.1: "set by the device") —
    /// judged only when the device did not run during the write (<paramref name="deviceRan"/>: stopping ioeventfd
    /// processes pending kicks, QEMU virtio_device_stop_ioeventfd_impl, and that may break the device); otherwise the
    /// other bits are what the driver wrote.
    /// </summary>
    public bool StatusWrite(VirtioStatus before, VirtioStatus written, VirtioStatus after, bool deviceRan = false)
    {
        const VirtioStatus nr = VirtioStatus.DeviceNeedsReset;
        if (written == VirtioStatus.None)
        {
            return Check(
                after == VirtioStatus.None,
                "transport/reset-status",
                $"status reads 0x{(byte)after:x2} after the driver wrote 0 (VIRTIO 1.2 §2.4: reset)"
            );
        }
        if ((after & nr) != 0 && (before & nr) == 0 && !deviceRan)
        {
            return Check(
                false,
                "transport/needs-reset-from-driver",
                $"status reads 0x{(byte)after:x2} (DEVICE_NEEDS_RESET) right after the driver wrote "
                    + $"0x{(byte)written:x2} over 0x{(byte)before:x2}: only the device sets it (VIRTIO 1.2 §2.1.1)"
            );
        }
        bool settingFeaturesOk = (before & VirtioStatus.FeaturesOk) == 0 && (written & VirtioStatus.FeaturesOk) != 0;
        ulong features = DriverFeatures;
        bool modern = (features & (1UL << 32)) != 0;
        if (settingFeaturesOk && modern && (features & ~OfferedModern) != 0)
        {
            return Check(
                (after & VirtioStatus.FeaturesOk) == 0,
                "transport/features-ok-kept",
                $"FEATURES_OK reads set after the driver accepted 0x{features:x16}, which has bits the device never "
                    + $"offered (0x{features & ~OfferedModern:x16}; VIRTIO 1.2 §2.2.2, §3.1.1 step 6)"
            );
        }
        if (settingFeaturesOk && (after & VirtioStatus.FeaturesOk) == 0)
            return true; // a refusal (ValidateFeatures) is the device's right
        return Check(
            (after & ~nr) == (written & ~nr),
            "transport/status-readback",
            $"status reads 0x{(byte)after:x2} after the driver wrote 0x{(byte)written:x2} (VIRTIO 1.2 §2.1)"
        );
    }

    /// <summary>After a reset: status 0, ISR 0 (§2.4), every queue disabled at its maximum size (§4.1.4.3.2 "On
    /// reset, specifies the maximum queue size").</summary>
    public bool AfterReset(VirtioStatus status, int queue, ushort queueSize, uint queueEnable)
    {
        if (
            !Check(
                status == VirtioStatus.None,
                "transport/reset-status",
                $"status reads 0x{(byte)status:x2} after a reset (VIRTIO 1.2 §2.4)"
            )
        )
            return false;
        if (
            !Check(
                queueEnable == 0,
                "transport/reset-queue-enabled",
                $"queue {queue} reads queue_enable {queueEnable} after a reset (VIRTIO 1.2 §4.1.4.3.2)"
            )
        )
            return false;
        return Check(
            queueSize == _queueMaxSizes[queue],
            "transport/reset-queue-size",
            $"queue {queue} reads queue_size {queueSize} after a reset, not its maximum {_queueMaxSizes[queue]} "
                + "(VIRTIO 1.2 §4.1.4.3)"
        );
    }

    /// <summary>ISR read clears it (VIRTIO 1.2 §4.1.4.5.1): a second read right after the first reads 0, and INTx is
    /// deasserted (QEMU pci_irq_deassert).</summary>
    public bool IsrReadTwice(uint first, uint second, bool intxAsserted) =>
        Check(
            second == 0,
            "transport/isr-not-cleared",
            $"ISR read 0x{first:x2} and then 0x{second:x2} with nothing in between: reading must clear it (VIRTIO 1.2 "
                + "§4.1.4.5.1)"
        )
        && Check(
            !intxAsserted,
            "transport/intx-after-isr-read",
            $"INTx still asserted after the driver read ISR 0x{first:x2} (VIRTIO 1.2 §4.1.5.3, QEMU pci_irq_deassert)"
        );

    private byte _lastGeneration;
    private uint _lastConfig;
    private bool _haveConfig;

    /// <summary>Forgets the last configuration snapshot.</summary>
    public void ForgetConfig() => _haveConfig = false;

    /// <summary>
    /// One consistent snapshot of device configuration (the driver's loop of §4.1.4.3.1 / §2.5.1: generation, fields,
    /// generation; consistent when both generations agree). Two consistent snapshots with the same generation must hold
    /// the same bytes ("the device MUST present a changed config_generation ... if any part of the device configuration
    /// space has changed").
    /// </summary>
    public bool ConfigSnapshot(byte generationBefore, uint config, byte generationAfter)
    {
        if (generationBefore != generationAfter)
            return true;
        bool ok = !_haveConfig || _lastGeneration != generationAfter || _lastConfig == config;
        bool result = Check(
            ok,
            "transport/config-changed-same-generation",
            $"device config changed from 0x{_lastConfig:x8} to 0x{config:x8} while config_generation stayed "
                + $"{generationAfter} (VIRTIO 1.2 §4.1.4.3.1)"
        );
        _lastGeneration = generationAfter;
        _lastConfig = config;
        _haveConfig = true;
        return result;
    }

    private bool Check(bool condition, string site, string message)
    {
        if (!condition)
            Context?.Report(Oracle, site, message);
        return condition;
    }

    private static uint Truncate(uint value, int size) => size >= 4 ? value : value & ((1u << (8 * size)) - 1);

    private static ulong Low(ulong current, uint value) => (current & 0xFFFF_FFFF_0000_0000) | value;

    private static ulong High(ulong current, uint value) => (current & 0xFFFF_FFFF) | ((ulong)value << 32);
}
