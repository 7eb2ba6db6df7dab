using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Factorial;
using Sim.Devices.Virtio.Net;
using Sim.Devices.Virtio.Rng;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Spec.Blk;
using Sim.Spec.Counter;
using Sim.Spec.Factorial;
using Sim.Spec.Net;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The feature handshake as the driver sees it (issue 12: no oracle compared the offered feature words with the
/// device's spec, so a device offering a bit it does not implement, or hiding one it does, passed). Robust flavours
/// only. Two rules:
/// <list type="bullet">
/// <item><c>features/offered</c>: what device_feature reads through a select window equals the device's spec (VIRTIO
/// 1.2 §4.1.4.3: device_feature shows bits 32·device_feature_select .. +31; QEMU virtio_pci_common_read returns 0 for
/// a select above 1 and hides VIRTIO_LEGACY_FEATURES). The offered set is written here from each device's spec file
/// and QEMU, never taken from the device: the device-specific bits (demo none, seed 000; factorial and counter
/// VIRTIO_TEST_F_CAN_PRINT, seeds 001/002; blk SEG_MAX, BLK_SIZE, FLUSH and RO for a read-only disk, QEMU
/// virtio_blk_get_features without the bits this model does not offer; rng none, §5.4.3; net MAC, §5.1.3) plus what
/// the transport adds (QEMU DEFINE_VIRTIO_COMMON_FEATURES less the legacy-only ones: INDIRECT_DESC, EVENT_IDX; and
/// VERSION_1 on the modern transport, virtio_pci_device_plugged).</item>
/// <item><c>features/accepted</c> and <c>features/refused</c>: when the driver sets FEATURES_OK with VERSION_1
/// negotiated, the status read back keeps FEATURES_OK exactly when every bit the driver wrote to driver_feature was
/// offered (§3.1.1 steps 5–6: "the device MUST NOT accept" a subset it does not support; §2.2.1 "the driver MUST NOT
/// accept a feature which the device did not offer", which the robust device enforces by refusing). Without VERSION_1
/// nothing is validated (legacy negotiation, QEMU virtio_set_status).</item>
/// </list>
/// The driver's input shapes: it reads device_feature through windows 0, 1 and 2 after every initialisation
/// (§3.1.1 step 4), after each of its writes to device_feature_select (op 11, whatever the window) and whenever op 13
/// reads it; it reads device_status back after every write that sets FEATURES_OK (§3.1.1 step 6). The driver's
/// feature bits are taken from the transport's record of its driver_feature writes (<see
/// cref="VirtioDevice.DriverFeatures"/>: the robust transport keeps unoffered bits until FEATURES_OK refuses them).
/// The same status read back also judges <c>status/broke-before-driver-ok</c> (<see
/// cref="JudgeBreakBeforeDriverOk"/>): a write that leaves DRIVER_OK clear, made while it was clear, breaks nothing.
/// </summary>
internal sealed class FeatureOracle
{
    public const string Oracle = "features";

    /// <summary>The oracle name of <c>status/broke-before-driver-ok</c>.</summary>
    public const string StatusOracle = "status";

    private VirtioDevice? _device;
    private FuzzContext? _context;
    private ulong _offered;

    /// <summary>True while the oracle judges this execution's device.</summary>
    public bool IsActive => _device is not null;

    /// <summary>device_feature reads judged since construction (all executions).</summary>
    public long OfferedJudgedTotal { get; private set; }

    /// <summary>FEATURES_OK handshakes judged since construction (all executions).</summary>
    public long HandshakesJudgedTotal { get; private set; }

    /// <summary>FEATURES_OK handshakes the device refused, among <see cref="HandshakesJudgedTotal"/>.</summary>
    public long RefusalsTotal { get; private set; }

    /// <summary>Every feature bit the modern transport must show the driver for <paramref name="device"/> (legacy-only
    /// bits hidden), from the device's spec; null for a device without an entry here.</summary>
    public static ulong? ExpectedOffered(VirtioDevice device)
    {
        ulong? specific = device switch
        {
            VirtioDemoDevice => 0, // seed 000 virtio_demo: no device-specific feature
            VirtioFactorialDevice => 1UL << FactorialSpec.FeatureCanPrint,
            VirtioCounterDevice => 1UL << CounterSpec.FCanPrint,
            VirtioBlkDevice b => (1UL << BlkSpec.FSegMax)
                | (1UL << BlkSpec.FBlkSize)
                | (1UL << BlkSpec.FFlush)
                | (b.Backend.IsReadOnly ? 1UL << BlkSpec.FRo : 0),
            VirtioRngDevice => 0, // VIRTIO 1.2 §5.4.3: none defined
            VirtioNetDevice => 1UL << NetSpec.FMac,
            _ => null,
        };
        if (specific is not ulong s)
            return null;
        return s | (1UL << VirtioSpec.FIndirectDesc) | (1UL << VirtioSpec.FEventIdx) | (1UL << VirtioSpec.FVersion1);
    }

    /// <summary>Starts judging a fresh <paramref name="device"/> (one execution); a seed flavour, or a device without
    /// an entry, is not judged.</summary>
    public void Begin(VirtioDevice device, Flavour flavour, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(device);
        ulong? offered = flavour == Flavour.Robust ? ExpectedOffered(device) : null;
        _device = offered is null ? null : device;
        _offered = offered ?? 0;
        _context = context;
    }

    /// <summary>Judges one device_feature read: <paramref name="select"/> is device_feature_select as the driver read
    /// it back, <paramref name="value"/> what device_feature returned.</summary>
    public void JudgeOffered(uint select, uint value)
    {
        if (_device is null || _context is null || _context.Finding is not null)
            return;
        OfferedJudgedTotal++;
        uint expected = select <= 1 ? Narrow.LowUInt32(_offered >> (select == 0 ? 0 : 32)) : 0;
        if (value == expected)
            return;
        _context.Report(
            Oracle,
            "features/offered",
            $"device_feature through window {select} reads 0x{value:x8}, the device's spec offers 0x{expected:x8} "
                + $"(bits offered 0x{_offered:x}; extra 0x{value & ~expected:x8}, missing 0x{expected & ~value:x8})"
        );
    }

    /// <summary>The driver wrote <paramref name="written"/> to device_status when it held
    /// <paramref name="before"/>, and read <paramref name="after"/> back: judges a write that newly set FEATURES_OK
    /// with VERSION_1 negotiated (any other write is not a handshake). <paramref name="wasBroken"/>: the device was
    /// broken before the write (a break without VERSION_1 sets no NEEDS_RESET bit until later).</summary>
    public void JudgeStatusWrite(VirtioStatus before, byte written, VirtioStatus after, bool wasBroken = false)
    {
        if (_device is null || _context is null || _context.Finding is not null)
            return;
        var value = (VirtioStatus)written;
        if (!wasBroken)
            JudgeBreakBeforeDriverOk(before, value, after);
        if (_context.Finding is not null)
            return;
        bool settingFeaturesOk = (before & VirtioStatus.FeaturesOk) == 0 && (value & VirtioStatus.FeaturesOk) != 0;
        ulong driver = _device.DriverFeatures;
        if (!settingFeaturesOk || (driver & (1UL << VirtioSpec.FVersion1)) == 0)
            return;
        HandshakesJudgedTotal++;
        bool accepted = (after & VirtioStatus.FeaturesOk) != 0;
        if (!accepted)
            RefusalsTotal++;
        ulong unoffered = driver & ~_offered;
        if (accepted && unoffered != 0)
        {
            _context.Report(
                Oracle,
                "features/accepted",
                $"FEATURES_OK was accepted for driver features 0x{driver:x}, "
                    + $"but bits 0x{unoffered:x} were never offered "
                    + "(VIRTIO 1.2 §3.1.1: the device must not accept a subset it does not support)"
            );
        }
        else if (!accepted && unoffered == 0)
        {
            _context.Report(
                Oracle,
                "features/refused",
                $"FEATURES_OK was refused for driver features 0x{driver:x}, "
                    + "every one of them offered by the device's spec"
            );
        }
    }

    /// <summary><c>status/broke-before-driver-ok</c>: a device_status write that leaves DRIVER_OK clear, made while it
    /// was clear, breaks no device (NEEDS_RESET was clear before and must be clear when read back). Nothing may process
    /// a queue then: QEMU's set_status hooks serve queues only with DRIVER_OK (virtio_rng_set_status →
    /// virtio_rng_process returns unless is_guest_ready: the queue ready and DRIVER_OK; virtio_blk_set_status and the
    /// test devices walk no ring; virtio_net_set_status processes a queue only once it is started, DRIVER_OK and the
    /// link up), the device MUST NOT consume buffers before DRIVER_OK (VIRTIO 1.2 §3.1.2), and no ioeventfd is started
    /// whose drain could run a handler (virtio_pci_common_write stops them only when DRIVER_OK goes from set to clear,
    /// which the condition on <paramref name="before"/> leaves out). A written 0 is a reset and not judged.</summary>
    private void JudgeBreakBeforeDriverOk(VirtioStatus before, VirtioStatus value, VirtioStatus after)
    {
        const VirtioStatus okOrBroken = VirtioStatus.DriverOk | VirtioStatus.DeviceNeedsReset;
        if (
            value == VirtioStatus.None
            || (before & okOrBroken) != 0
            || (value & VirtioStatus.DriverOk) != 0
            || (after & VirtioStatus.DriverOk) != 0
            || (after & VirtioStatus.DeviceNeedsReset) == 0
        )
            return;
        _context!.Report(
            StatusOracle,
            "status/broke-before-driver-ok",
            $"device_status 0x{(byte)before:x2}, the driver wrote 0x{(byte)value:x2} (DRIVER_OK clear) and read back "
                + $"0x{(byte)after:x2}: the device set DEVICE_NEEDS_RESET ({_device!.BrokenReason}) although no queue "
                + "may be processed before DRIVER_OK (VIRTIO 1.2 §3.1.2; QEMU virtio_rng_process's is_guest_ready)"
        );
    }
}
