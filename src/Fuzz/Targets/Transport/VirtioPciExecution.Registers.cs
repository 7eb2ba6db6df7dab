using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Devices.Vhost;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio;
using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Oracles;
using L = Sim.Spec.Virtio.VirtioPciLayout;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Virtsim.Fuzz.Targets.Transport;

/// <summary>The driver's register accesses of one execution, each judged by the register model.</summary>
internal sealed partial class VirtioPciExecution
{
    /// <summary>The low <paramref name="piece"/> bytes of <paramref name="value"/>.</summary>
    private static uint Piece(ulong value, int piece) =>
        Narrow.LowUInt32(value & (piece >= 4 ? 0xFFFF_FFFFUL : (1UL << (8 * piece)) - 1));

    /// <summary>A common-config write split into QEMU's pieces; each piece goes to the model, a device_status piece
    /// through the status rules.</summary>
    private void CommonWrite(int offset, int size, ulong value)
    {
        if (!_rig.Reach(L.ModernBar, L.ModernCommonOffset + (ulong)offset, size, out _, out _))
            return;
        ulong at = (ulong)offset;
        int left = size;
        while (left > 0 && _context.Finding is null)
        {
            int piece = QemuAccessSplit.PieceSize(at, left);
            uint part = Piece(value, piece);
            int o = (int)at;
            if (o == L.CommonDeviceStatus)
            {
                StatusWrite(L.ModernBar, L.ModernCommonOffset + at, piece, part);
            }
            else
            {
                if (o == L.CommonQueueEnable)
                    _resync = true; // a re-enable restarts the ring's indices
                _model.CommonWrite(o, part, _rig.PeekStatus());
                _rig.BarWrite(L.ModernBar, L.ModernCommonOffset + at, piece, part);
            }
            value >>= 8 * piece;
            at += (ulong)piece;
            left -= piece;
        }
    }

    private void CommonRead(int offset, int size)
    {
        if (!_rig.Reach(L.ModernBar, L.ModernCommonOffset + (ulong)offset, size, out _, out _))
            return;
        ulong at = (ulong)offset;
        int left = size;
        while (left > 0 && _context.Finding is null)
        {
            int piece = QemuAccessSplit.PieceSize(at, left);
            _rig.BarRead(L.ModernBar, L.ModernCommonOffset + at, piece, out uint v);
            if (_modelValid)
                _model.CommonRead((int)at, piece, v);
            at += (ulong)piece;
            left -= piece;
        }
    }

    private void LegacyWrite(int offset, int size, ulong value)
    {
        if (!_rig.Reach(L.LegacyBar, (ulong)offset, size, out _, out _))
            return;
        ulong at = (ulong)offset;
        int left = size;
        while (left > 0 && _context.Finding is null)
        {
            int piece = QemuAccessSplit.PieceSize(at, left);
            LegacyWritePiece((int)at, piece, Piece(value, piece));
            value >>= 8 * piece;
            at += (ulong)piece;
            left -= piece;
        }
    }

    private void LegacyWritePiece(int offset, int piece, uint part)
    {
        int configOffset = _rig.MsixEnabled ? L.LegacyConfigMsix : L.LegacyConfigNoMsix;
        if (offset == L.LegacyStatus)
        {
            StatusWrite(L.LegacyBar, (ulong)offset, piece, part);
        }
        else if (offset == L.LegacyQueuePfn && part == 0)
        {
            // QEMU virtio_ioport_write: a QUEUE_PFN of 0 resets the device.
            _rig.BarWrite(L.LegacyBar, (ulong)offset, piece, part);
            AfterReset();
        }
        else
        {
            if (offset == L.LegacyQueuePfn)
                _resync = true;
            if (offset < configOffset)
                _model.LegacyWrite(offset, part, _rig.MsixEnabled, _rig.PeekStatus());
            else
                _model.ForgetConfig();
            _rig.BarWrite(L.LegacyBar, (ulong)offset, piece, part);
        }
    }

    private void LegacyRead(int offset, int size)
    {
        if (!_rig.Reach(L.LegacyBar, (ulong)offset, size, out _, out _))
            return;
        ulong at = (ulong)offset;
        int left = size;
        while (left > 0 && _context.Finding is null)
        {
            int piece = QemuAccessSplit.PieceSize(at, left);
            int configOffset = _rig.MsixEnabled ? L.LegacyConfigMsix : L.LegacyConfigNoMsix;
            bool msix = _rig.MsixEnabled;
            _rig.BarRead(L.LegacyBar, at, piece, out uint v);
            if (_modelValid && (int)at < configOffset)
                _model.LegacyRead((int)at, piece, v, msix);
            at += (ulong)piece;
            left -= piece;
        }
    }

    /// <summary>One driver write of device_status (modern or legacy) judged by the status rules: the status is read
    /// just before and just after, with nothing else running in between.</summary>
    private void StatusWrite(int bar, ulong offset, int size, uint value)
    {
        var written = (VirtioStatus)(byte)value; // device_status / VIRTIO_PCI_STATUS is 8 bits
        VirtioStatus before = _rig.PeekStatus();
        long accesses = _gate.DeviceAccesses;
        if (_device is VhostDemoFrontendDevice { VhostStarted: true } && (written & VirtioStatus.DriverOk) == 0)
        {
            // vhost stops inside this write, and QEMU's hand-back (virtio_queue_update_used_idx) reads used->idx of
            // the ring the queue registers name now, which a driver may have moved under the running vhost: the
            // checker judges the rings vhost ran on and stops here (the DMA gate still judges the stop).
            _checker.Deactivate();
            _syncedReady = false;
        }
        long startFailures = _device is VhostDemoFrontendDevice f ? f.StartFailures : 0;
        _rig.BarWrite(bar, offset, size, value);
        if (_device is VhostDemoFrontendDevice frontend && frontend.StartFailures != startFailures)
            JudgeStartFailure(frontend);
        VirtioStatus after = _rig.PeekStatus();
        if (_modelValid)
            _model.StatusWrite(before, written, after, _gate.DeviceAccesses != accesses);
        if (written == VirtioStatus.None)
            AfterReset();
        // The checker follows the queue from the status write on: a vhost frontend starts (and touches the rings,
        // vhost_vq_init_access) or stops inside this write, not at the end of the op.
        Sync();
    }

    /// <summary>A vhost start that failed inside this status write must be explained by the queues the driver set
    /// up: vhost_dev_start hands each queue's size to VHOST_SET_VRING_NUM (QEMU vhost_virtqueue_start), and Linux
    /// vhost_vring_set_num refuses with EINVAL only a size that is 0, above 0xffff or not a power of two. An EINVAL
    /// there while every queue's size is a power of two means the frontend sent something else (a ring it did not
    /// collect).</summary>
    private void JudgeStartFailure(VhostDemoFrontendDevice frontend)
    {
        if (frontend.LastStartStep != VhostStartStep.SetVringNum || frontend.LastStartResult != VhostResult.Invalid)
            return;
        for (int q = 0; q < _device.QueueCount; q++)
        {
            int num = _device.GetQueue(q).Size;
            if (num <= 0 || num > 0xffff || (num & (num - 1)) != 0)
                return;
        }
        _context.Report(
            "vhost-start",
            "vhost-start/vring-num-rejected",
            "vhost_dev_start failed at VHOST_SET_VRING_NUM with EINVAL, but every queue's size is a power of two "
                + "that Linux vhost_vring_set_num accepts"
        );
    }

    /// <summary>A reset happened: the model forgets everything, and the reset values are checked (VIRTIO 1.2
    /// §2.4).</summary>
    private void AfterReset()
    {
        _model.Reset();
        _model.ForgetConfig();
        _modelValid = true;
        _guestReady = false;
        Span<byte> b = stackalloc byte[2];
        IBusDevice common = _rig.ModernRegion;
        ushort select = _model.QueueSelect;
        common.Read(BusKind.Mmio, L.CommonQueueSize, b);
        ushort queueSize = BinaryPrimitives.ReadUInt16LittleEndian(b);
        common.Read(BusKind.Mmio, L.CommonQueueEnable, b);
        ushort enable = BinaryPrimitives.ReadUInt16LittleEndian(b);
        if (select < _device.QueueCount)
            _model.AfterReset(_rig.PeekStatus(), select, queueSize, enable);
    }

    private void IsrRead(bool legacy, int offset)
    {
        uint first,
            second;
        if (legacy)
        {
            if (!_rig.BarRead(L.LegacyBar, L.LegacyIsr, 1, out first))
                return;
            _rig.BarRead(L.LegacyBar, L.LegacyIsr, 1, out second);
        }
        else
        {
            if (!_rig.BarRead(L.ModernBar, L.ModernIsrOffset + (ulong)offset, 1, out first))
                return;
            if (offset != 0)
                return; // robust: only byte 0 is the ISR
            _rig.BarRead(L.ModernBar, L.ModernIsrOffset, 1, out second);
        }
        _model.IsrReadTwice(first, second, !_rig.MsixEnabled && _rig.Transport.IntxAsserted);
    }

    /// <summary>The driver's consistent read of device configuration (VIRTIO 1.2 §4.1.4.3.1): generation, fields,
    /// generation.</summary>
    private void ConfigSnapshot()
    {
        const ulong generation = L.ModernCommonOffset + L.CommonConfigGeneration;
        if (!_rig.BarRead(L.ModernBar, generation, 1, out uint g1))
            return;
        if (!_rig.BarRead(L.ModernBar, L.ModernDeviceOffset, 4, out uint config))
            return;
        _rig.BarRead(L.ModernBar, generation, 1, out uint g2);
        _model.ConfigSnapshot((byte)g1, config, (byte)g2);
    }

    // ------------------------------------------------------------------ PCI configuration space

    private void PciConfigWrite(in VirtioPciInput.Op op)
    {
        int width = Math.Min(1 << (op.A & 3), 4);
        int register = op.Reg & 0xFF & ~(width - 1);
        uint value = (uint)op.Value;
        switch ((op.A >> 4) & 3)
        {
            case 1:
                // BAR sizing (PCI 3.0 §6.2.5.1): all-ones, read back, then an address (often the old one).
                register = R.Bar0 + (4 * (op.Reg % R.BarCount));
                width = 4;
                _rig.ConfigAccess(register, 4, uint.MaxValue, write: true);
                _rig.ConfigAccess(register, 4, 0, write: false);
                break;
            case 2:
                register = R.Command;
                width = 2;
                break;
            case 3 when _rig.Transport.Msix is { } msix:
                register = msix.CapabilityOffset + MsixCapability.ControlOffset;
                width = 2;
                value = MsixControl(value);
                break;
            default:
                break;
        }
        // Bus mastering off under DRIVER_OK clears DRIVER_OK (QEMU virtio_write_config), so vhost stops inside this
        // write and its hand-back reads used->idx of the ring the registers name now: as for a status write, the
        // checker judges the rings vhost ran on and stops here.
        if (
            register == R.Command
            && (value & R.CommandBusMaster) == 0
            && _device is VhostDemoFrontendDevice { VhostStarted: true }
        )
        {
            _checker.Deactivate();
            _syncedReady = false;
        }
        // The PCI configuration access window writes the BAR behind the model's back (VIRTIO 1.2 §4.1.4.9).
        if (
            _pciCfgCap != 0
            && register < _pciCfgCap + L.PciCfgCapLength
            && register + width > _pciCfgCap + L.CapPciCfgDataOffset
        )
        {
            _modelValid = false;
        }
        _rig.ConfigAccess(register, width, value, write: true);
    }

    /// <summary>An MSI-X control word from the op's value: enabled, enabled and masked, or off.</summary>
    private static uint MsixControl(uint value) =>
        (value & 1) != 0 ? MsixCapability.ControlEnable
        : (value & 2) != 0 ? (uint)(MsixCapability.ControlEnable | MsixCapability.ControlFunctionMask)
        : 0;

    private uint PciConfigRead(int register, int width)
    {
        // A read of the access window performs the BAR read it describes (an ISR read clears it): harmless to the
        // model.
        return _rig.ConfigAccess(register, width, 0, write: false);
    }
}
