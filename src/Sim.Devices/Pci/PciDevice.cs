using Sim.Engine;
using Sim.Machine.Kvm;
using Sim.Spec.Pci;
using R = Sim.Spec.Pci.PciConfigRegisters;

namespace Sim.Devices.Pci;

/// <summary>
/// A PCI function with a type 0 header (QEMU PCIDevice): identity, command/status, BARs with the
/// sizing protocol, INTx and a capability list. Concrete devices register their BARs and
/// capabilities in their constructor and may override <see cref="ConfigRead"/>/<see cref="ConfigWrite"/>
/// (QEMU config_read/config_write) to intercept registers. Every guest access is bounds-checked
/// and never throws; host misuse (bad BAR index or size, full capability space) throws.
/// </summary>
public abstract class PciDevice
{
    /// <summary>Largest 32-bit memory BAR (a BAR must fit below 4 GiB with room for other devices).</summary>
    public const ulong Memory32BarSizeMax = 1UL << 31;

    /// <summary>Largest 64-bit memory BAR the model accepts (1 TiB).</summary>
    public const ulong Memory64BarSizeMax = 1UL << 40;

    /// <summary>Smallest memory BAR (PCI 3.0 §6.2.5.1: bits 3:0 are flags, so 16 bytes).</summary>
    public const ulong MemoryBarSizeMin = 16;

    /// <summary>Smallest I/O BAR (bits 1:0 are flags, so 4 bytes).</summary>
    public const ulong IoBarSizeMin = 4;

    /// <summary>Largest I/O BAR (PCI 3.0 §6.2.5.1: devices should not request more than 256 bytes of I/O).</summary>
    public const ulong IoBarSizeMax = 256;

    /// <summary>Highest x86 port: an I/O BAR that does not fit below it is not decoded.</summary>
    public const ulong IoSpaceLimit = 0xFFFF;

    private readonly PciBar?[] _bars = new PciBar?[R.BarCount];
    private readonly bool[] _capabilityBytesUsed = new bool[R.SpaceSize];
    private IPciBarHost? _barHost;
    private bool _intxRequest;
    private bool _intxLevel;

    /// <summary>A device with <paramref name="ids"/> in its configuration header.</summary>
    protected PciDevice(PciDeviceIds ids)
    {
        if (ids.VendorId == 0xFFFF)
            throw new ArgumentException("vendor id 0xFFFF means 'no device'", nameof(ids));
        if (ids.ClassCode > 0xFFFFFF)
            throw new ArgumentException("class code is 24 bits", nameof(ids));
        if (ids.InterruptPin > 4)
            throw new ArgumentException("interrupt pin must be 0 (none) or 1..4 (INTA#..INTD#)", nameof(ids));
        Ids = ids;
        PciConfigSpace c = Config;
        c.SetUInt16(R.VendorId, ids.VendorId);
        c.SetUInt16(R.DeviceId, ids.DeviceId);
        c.SetByte(R.RevisionId, ids.RevisionId);
        // Byte extraction truncates on purpose (checked arithmetic is on in this project).
        c.SetByte(R.ClassCode, Narrow.LowByte(ids.ClassCode));
        c.SetByte(R.ClassCode + 1, Narrow.LowByte(ids.ClassCode >> 8));
        c.SetByte(R.ClassCode + 2, Narrow.LowByte(ids.ClassCode >> 16));
        c.SetUInt16(R.SubsystemVendorId, ids.SubsystemVendorId);
        c.SetUInt16(R.SubsystemId, ids.SubsystemId);
        c.SetByte(R.InterruptPin, ids.InterruptPin);

        // QEMU pci_init_wmask / pci_init_w1cmask: the guest may write the command bits the model
        // implements, cache line size, interrupt line, and the whole device-specific area above the
        // header (capabilities make their own bytes read-only again, see AddCapability).
        c.SetWriteMask16(R.Command, R.CommandWritable);
        c.SetWriteMask(R.CacheLineSize, 0xFF);
        c.SetWriteMask(R.InterruptLine, 0xFF);
        c.FillWriteMask(R.HeaderSize, R.SpaceSize - R.HeaderSize, 0xFF);
        c.SetWriteOneToClearMask16(R.Status, R.StatusWriteOneToClear);
        for (int i = 0; i < R.HeaderSize; i++)
            _capabilityBytesUsed[i] = true;
    }

    /// <summary>The identity given at construction.</summary>
    public PciDeviceIds Ids { get; }

    /// <summary>The configuration space registers.</summary>
    public PciConfigSpace Config { get; } = new();

    /// <summary>Where BAR mappings go; null until <see cref="Connect"/>.</summary>
    public IPciBarHost? BarHost => _barHost;

    /// <summary>Where INTx level changes go (null: nobody listens).</summary>
    public IPciIntxSink? IntxSink { get; set; }

    /// <summary>Command register bit 0.</summary>
    public bool IoSpaceEnabled => (Command & R.CommandIoSpace) != 0;

    /// <summary>Command register bit 1.</summary>
    public bool MemorySpaceEnabled => (Command & R.CommandMemorySpace) != 0;

    /// <summary>Command register bit 2: the device may access guest memory (DMA).</summary>
    public bool BusMasterEnabled => (Command & R.CommandBusMaster) != 0;

    /// <summary>The command register.</summary>
    public ushort Command => Config.GetUInt16(R.Command);

    /// <summary>The MSI-X capability, once added with <see cref="AddMsix"/>.</summary>
    public MsixCapability? Msix { get; private set; }

    /// <summary>The INTx# level the device drives (request and not interrupt-disabled).</summary>
    public bool IntxAsserted => _intxLevel;

    /// <summary>The BAR registered in <paramref name="index"/>, or null.</summary>
    public PciBar? GetBar(int index) => Narrow.AsUInt32Bits(index) < R.BarCount ? _bars[index] : null;

    /// <summary>Attaches the device to the address spaces its BARs will be mapped into. Once only.</summary>
    public void Connect(IPciBarHost barHost)
    {
        ArgumentNullException.ThrowIfNull(barHost);
        if (_barHost != null)
            throw new InvalidOperationException("device is already connected to a bus");
        _barHost = barHost;
        UpdateMappings();
    }

    /// <summary>Guest configuration read (mechanism #1 data port, already split to byte lanes).</summary>
    public virtual void ConfigRead(int offset, Span<byte> data) => Config.Read(offset, data);

    /// <summary>Guest configuration write (QEMU pci_default_write_config): masked update, then BAR
    /// remapping if a BAR or the command register changed and INTx re-evaluation if interrupt
    /// disable may have changed.</summary>
    public virtual void ConfigWrite(int offset, ReadOnlySpan<byte> data)
    {
        Config.Write(offset, data);
        if (Touches(offset, data.Length, R.Bar0, R.BarCount * 4) || Touches(offset, data.Length, R.Command, 2))
        {
            UpdateMappings();
        }
        if (Touches(offset, data.Length, R.Command + 1, 1))
            UpdateIntx();
        if (Msix != null && Touches(offset, data.Length, Msix.CapabilityOffset + MsixCapability.ControlOffset, 2))
            Msix.OnControlWritten();
    }

    /// <summary>PCI reset (system reset, QEMU pci_device_reset): the device's own <see cref="OnReset"/>
    /// first, then the PCI core: INTx deasserted, decoding and bus mastering disabled, error status
    /// cleared, BAR addresses cleared and unmapped, cache line size and interrupt line zeroed.</summary>
    public void Reset()
    {
        OnReset();
        Msix?.Reset();
        SetIntxRequest(false);
        Config.SetUInt16(R.Command, 0);
        Config.SetUInt16(R.Status, Narrow.LowUInt16(Config.GetUInt16(R.Status) & ~R.StatusWriteOneToClear));
        Config.SetByte(R.CacheLineSize, 0);
        Config.SetByte(R.InterruptLine, 0);
        foreach (PciBar? bar in _bars)
        {
            if (bar == null)
                continue;
            Config.SetUInt32(bar.RegisterOffset, bar.TypeBits);
            if (bar.Kind == PciBarKind.Memory64)
                Config.SetUInt32(bar.RegisterOffset + 4, 0);
        }
        UpdateMappings();
    }

    /// <summary>Device-specific reset (QEMU DeviceClass.reset), called first by <see cref="Reset"/>.</summary>
    protected virtual void OnReset() { }

    /// <summary>
    /// Registers a BAR (QEMU pci_register_bar). The guest sizes it by writing all-ones and reading
    /// back ~(size - 1) with the read-only type bits (PCI 3.0 §6.2.5.1). A 64-bit BAR also takes slot
    /// <paramref name="index"/> + 1. Host misuse (bad index, size not a power of two in range, slot
    /// taken) throws.
    /// </summary>
    protected PciBar RegisterBar(int index, PciBarKind kind, ulong size, IBusDevice region, bool prefetchable = false)
    {
        ArgumentNullException.ThrowIfNull(region);
        if (Narrow.AsUInt32Bits(index) >= R.BarCount)
            throw new ArgumentOutOfRangeException(nameof(index), "BAR index must be 0..5");
        if (kind == PciBarKind.Memory64 && index == R.BarCount - 1)
            throw new ArgumentOutOfRangeException(nameof(index), "a 64-bit BAR needs two slots");
        if (kind == PciBarKind.Io && prefetchable)
            throw new ArgumentException("I/O BARs cannot be prefetchable", nameof(prefetchable));
        if (size == 0 || (size & (size - 1)) != 0)
            throw new ArgumentException($"BAR size 0x{size:x} is not a power of two", nameof(size));
        (ulong min, ulong max) = kind switch
        {
            PciBarKind.Io => (IoBarSizeMin, IoBarSizeMax),
            PciBarKind.Memory32 => (MemoryBarSizeMin, Memory32BarSizeMax),
            _ => (MemoryBarSizeMin, Memory64BarSizeMax),
        };
        if (size < min || size > max)
            throw new ArgumentOutOfRangeException(nameof(size), $"{kind} BAR size must be 0x{min:x}..0x{max:x}");
        if (IsSlotTaken(index) || (kind == PciBarKind.Memory64 && IsSlotTaken(index + 1)))
            throw new InvalidOperationException($"BAR slot {index} is taken");

        var bar = new PciBar(index, kind, size, prefetchable, region);
        _bars[index] = bar;
        ulong mask = ~(size - 1);
        Config.SetUInt32(bar.RegisterOffset, bar.TypeBits);
        Config.SetWriteMask32(bar.RegisterOffset, Narrow.LowUInt32(mask)); // low half of the size mask
        if (kind == PciBarKind.Memory64)
        {
            Config.SetUInt32(bar.RegisterOffset + 4, 0);
            Config.SetWriteMask32(bar.RegisterOffset + 4, Narrow.LowUInt32(mask >> 32));
        }
        return bar;
    }

    /// <summary>
    /// Adds a capability of <paramref name="length"/> bytes (QEMU pci_add_capability): at
    /// <paramref name="offset"/>, or with 0 at the first free dword-aligned space above the header.
    /// Like QEMU, the new capability becomes the head of the list (it points at the previous head),
    /// the status register's capabilities bit is set, and its bytes are made read-only; the caller
    /// then opens the writable bits with <see cref="PciConfigSpace.SetWriteMask"/>. Returns the offset.
    /// </summary>
    protected int AddCapability(byte id, int length, int offset = 0)
    {
        if (length < 2 || length > R.SpaceSize - R.HeaderSize)
            throw new ArgumentOutOfRangeException(nameof(length));
        if (offset == 0)
            offset = FindCapabilitySpace(length);
        if (offset < R.HeaderSize || (offset & 3) != 0 || offset > R.SpaceSize - length)
        {
            throw new ArgumentOutOfRangeException(
                nameof(offset),
                $"capability offset 0x{offset:x} must be dword-aligned inside 0x40..0xFF"
            );
        }
        for (int i = offset; i < offset + length; i++)
        {
            if (_capabilityBytesUsed[i])
                throw new InvalidOperationException($"capability at 0x{offset:x} overlaps another at 0x{i:x}");
        }
        for (int i = offset; i < offset + length; i++)
            _capabilityBytesUsed[i] = true;

        Config.SetByte(offset, id);
        Config.SetByte(offset + R.CapabilityNext, Config.GetByte(R.CapabilitiesPointer));
        Config.SetByte(R.CapabilitiesPointer, Narrow.LowByte(offset));
        Config.SetUInt16(R.Status, Narrow.LowUInt16(Config.GetUInt16(R.Status) | R.StatusCapabilitiesList));
        Config.FillWriteMask(offset, length, 0);
        return offset;
    }

    /// <summary>
    /// Adds an MSI-X capability with <paramref name="vectors"/> table entries whose table and PBA live
    /// in BAR <paramref name="barIndex"/> (QEMU msix_init_exclusive_bar): registers that BAR as a
    /// 32-bit memory BAR of <see cref="MsixCapability.BarSize"/> bytes served by the capability.
    /// Message control's enable and function-mask bits become guest-writable.
    /// </summary>
    protected MsixCapability AddMsix(int vectors, int barIndex, IMsixDelivery delivery)
    {
        if (Msix != null)
            throw new InvalidOperationException("the device already has an MSI-X capability");
        int offset = AddCapability(R.CapabilityIdMsix, MsixCapability.CapabilityLength);
        var msix = new MsixCapability(Config, offset, vectors, barIndex, delivery);
        RegisterBar(barIndex, PciBarKind.Memory32, msix.BarSize, msix);
        Msix = msix;
        return msix;
    }

    /// <summary>Sets the device's interrupt request (QEMU pci_set_irq): the status register's
    /// interrupt bit follows it, and INTx# is driven unless interrupt disable is set.</summary>
    protected void SetIntxRequest(bool request)
    {
        _intxRequest = request;
        ushort status = Config.GetUInt16(R.Status);
        status = request ? Narrow.LowUInt16(status | R.StatusInterrupt) : Narrow.LowUInt16(status & ~R.StatusInterrupt);
        Config.SetUInt16(R.Status, status);
        UpdateIntx();
    }

    private void UpdateIntx()
    {
        bool level = _intxRequest && Ids.InterruptPin != 0 && (Command & R.CommandIntxDisable) == 0;
        if (level == _intxLevel)
            return;
        _intxLevel = level;
        IntxSink?.SetIntx(this, level);
    }

    /// <summary>QEMU pci_update_mappings: recompute every BAR's decoded address and move the mappings
    /// whose address changed (unmap the old one first). BARs are visited in slot order.</summary>
    private void UpdateMappings()
    {
        foreach (PciBar? bar in _bars)
        {
            if (bar == null)
                continue;
            ulong address = DecodedAddress(bar);
            if (address == bar.MappedAddress)
                continue;
            ulong old = bar.MappedAddress;
            if (bar.IsMapped)
                _barHost?.UnmapBar(new PciBarMapping(this, bar.Index, bar.Bus, old, bar.Size, bar.Region));
            bar.MappedAddress = address;
            if (bar.IsMapped)
                _barHost?.MapBar(new PciBarMapping(this, bar.Index, bar.Bus, address, bar.Size, bar.Region));
            OnBarMoved(bar, old);
        }
    }

    /// <summary>Called after <paramref name="bar"/> was unmapped from <paramref name="oldAddress"/>
    /// (or <see cref="PciBar.Unmapped"/>) and mapped at its new <see cref="PciBar.MappedAddress"/>
    /// (QEMU: the memory listener re-adding a region's ioeventfds at its new address).</summary>
    protected virtual void OnBarMoved(PciBar bar, ulong oldAddress) { }

    /// <summary>
    /// QEMU pci_bar_address: a BAR decodes only while its space is enabled in the command register,
    /// at a nonzero address where the whole BAR fits (32-bit BARs below 4 GiB, I/O BARs below
    /// 64 KiB). This is why sizing (all-ones written with decoding on) never maps anything: the BAR
    /// would wrap past the top of its space. Not connected to a host: nothing is ever mapped.
    /// </summary>
    private ulong DecodedAddress(PciBar bar)
    {
        if (_barHost == null)
            return PciBar.Unmapped;
        ushort command = Command;
        ulong raw = Config.GetUInt32(bar.RegisterOffset);
        ulong limit;
        if (bar.Kind == PciBarKind.Io)
        {
            if ((command & R.CommandIoSpace) == 0)
                return PciBar.Unmapped;
            limit = IoSpaceLimit;
        }
        else
        {
            if ((command & R.CommandMemorySpace) == 0)
                return PciBar.Unmapped;
            if (bar.Kind == PciBarKind.Memory64)
            {
                raw |= unchecked((ulong)Config.GetUInt32(bar.RegisterOffset + 4)) << 32;
                limit = ulong.MaxValue - 1;
            }
            else
            {
                limit = uint.MaxValue - 1UL;
            }
        }
        ulong address = raw & ~(bar.Size - 1);
        if (address == 0)
            return PciBar.Unmapped;
        if (address > limit || bar.Size - 1 > limit - address)
            return PciBar.Unmapped;
        return address;
    }

    private int FindCapabilitySpace(int length)
    {
        for (int offset = R.HeaderSize; offset <= R.SpaceSize - length; offset += 4)
        {
            bool free = true;
            for (int i = offset; i < offset + length && free; i++)
                free = !_capabilityBytesUsed[i];
            if (free)
                return offset;
        }
        throw new InvalidOperationException($"no room for a {length}-byte capability in configuration space");
    }

    private bool IsSlotTaken(int index)
    {
        if (_bars[index] != null)
            return true;
        return index > 0 && _bars[index - 1] is { Kind: PciBarKind.Memory64 };
    }

    private static bool Touches(int offset, int length, int start, int count)
    {
        long end = (long)offset + length;
        return offset < start + count && end > start;
    }
}
