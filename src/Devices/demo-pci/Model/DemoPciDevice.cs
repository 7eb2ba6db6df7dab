using System.Buffers.Binary;
using Sim.Devices.Pci;
using Sim.Machine.Kvm;
using Sim.Spec.Demo;
using Sim.Spec.Pci;

namespace Sim.Devices.Demo;

/// <summary>
/// The "demo" PCI device of seed 000 lab 1 (QEMU hw/misc/demo.c): BAR0 is a 1 MiB 32-bit memory
/// BAR; a 4-byte access at offset 0 reads or stores <see cref="Buff"/>; any other offset or size
/// reads all-ones and ignores writes.
/// </summary>
/// <remarks>
/// <para>Identity: the seed shows realize and the MMIO ops but not its class_init, so its vendor,
/// device and class ids are not in the document. We use QEMU's own vendor id 0x1234
/// (PCI_VENDOR_ID_QEMU, what QEMU's example devices such as edu use), device id
/// <see cref="DeviceIdDemo"/>, and class PCI_CLASS_OTHERS, with QEMU's default subsystem ids
/// (pci_set_default_subsystem_id) since the seed sets none. No interrupt pin: the seed raises none.</para>
/// <para>What the flavours do differently, and why:</para>
/// <list type="bullet">
/// <item><b>Accesses other than 4 bytes at offset 0.</b> The seed's ops declare neither
/// <c>.valid</c> nor <c>.impl</c> sizes, so QEMU's memory core (flatview_read/write_continue with
/// memory_access_size) first splits every access into naturally aligned pieces of at most 4 bytes
/// and calls demo_mmio_read/write once per piece. Seed flavour reproduces that: an 8-byte read at
/// offset 0 returns <c>buff</c> in its low dword and all-ones in its high dword, and an 8-byte write
/// at offset 0 stores its low dword into <c>buff</c> (a guest <c>writeq</c> silently half-works).
/// Unaligned accesses are split into pieces none of which is (0, 4), so they read all-ones in both
/// flavours. Robust flavour treats the access as a whole: only exactly (offset 0, size 4) reaches
/// <c>buff</c>; an 8-byte access reads all-ones and is ignored, as the seed's own check intends.</item>
/// <item><b>Reset.</b> The seed registers no reset handler (no <c>dc-&gt;reset</c>) and no vmstate, so
/// <c>buff</c> survives a system reset (and is lost on migration). Seed flavour keeps <c>buff</c>
/// across <see cref="PciDevice.Reset"/>; robust flavour clears it, as a device reset should.</item>
/// <item><b>Endianness.</b> The seed declares DEVICE_NATIVE_ENDIAN, which is little-endian on the
/// x86 targets modelled here, so the bytes are identical; robust flavour is explicitly
/// little-endian (as the guest's readl/writel are), which would matter on a big-endian target.</item>
/// <item><b>Realize/unrealize.</b> The seed has no exit/uninit; QEMU's PCI core unregisters the BAR
/// and the region is owned by the device object, so nothing leaks. Both flavours: the BAR is
/// unmapped by the PCI core on reset or when the guest disables decoding.</item>
/// </list>
/// </remarks>
public sealed class DemoPciDevice : PciDevice, IBusDevice
{
    /// <summary>PCI_VENDOR_ID_QEMU.</summary>
    public const ushort VendorIdQemu = DemoPciSpec.VendorIdQemu;

    /// <summary>Device id the model uses for "demo" (the seed does not show one; see remarks).</summary>
    public const ushort DeviceIdDemo = DemoPciSpec.DeviceIdDemo;

    /// <summary>BAR0 size: 1 MiB (seed: memory_region_init_io(..., "demo-mmio", 1 * MiB)).</summary>
    public const ulong Bar0Size = 1UL << 20;

    /// <summary>The one register: offset of <c>buff</c> in BAR0.</summary>
    public const ulong BuffOffset = 0;

    /// <summary>The only access size that reaches <c>buff</c>.</summary>
    public const int BuffSize = 4;

    /// <summary>Identity: vendor 0x1234, device 0xDE00, class "other", QEMU default subsystem, no INTx.</summary>
    public static readonly PciDeviceIds DemoIds = new(VendorIdQemu, DeviceIdDemo, PciDeviceIds.ClassOther);

    /// <summary>A demo device of <paramref name="flavour"/>.</summary>
    public DemoPciDevice(Flavour flavour = Flavour.Robust)
        : base(DemoIds)
    {
        Flavour = flavour;
        Bar0 = RegisterBar(0, PciBarKind.Memory32, Bar0Size, this);
    }

    /// <summary>Seed (the seed document's code as written) or robust (bounds-checked).</summary>
    public Flavour Flavour { get; }

    /// <summary>The MMIO BAR.</summary>
    public PciBar Bar0 { get; }

    /// <summary>The stored value (seed: DemoState.buff).</summary>
    public uint Buff { get; private set; }

    /// <summary>BAR0 read: <paramref name="offset"/> is relative to the BAR.</summary>
    public void Read(BusKind bus, ulong offset, Span<byte> data)
    {
        if (Flavour == Flavour.Robust)
        {
            if (offset == BuffOffset && data.Length == BuffSize)
                BinaryPrimitives.WriteUInt32LittleEndian(data, Buff);
            else
                data.Fill(0xFF);
            return;
        }
        ulong address = offset;
        while (!data.IsEmpty)
        {
            int piece = QemuAccessSplit.PieceSize(address, data.Length);
            Span<byte> part = data[..piece];
            // seed demo_mmio_read: val = ~0; only (addr 0, size 4) returns buff. The memory core keeps
            // the low 'size' bytes of the returned uint64.
            if (address == BuffOffset && piece == BuffSize)
                BinaryPrimitives.WriteUInt32LittleEndian(part, Buff);
            else
                part.Fill(0xFF);
            data = data[piece..];
            address = unchecked(address + (ulong)piece);
        }
    }

    /// <summary>BAR0 write: <paramref name="offset"/> is relative to the BAR.</summary>
    public void Write(BusKind bus, ulong offset, ReadOnlySpan<byte> data)
    {
        if (Flavour == Flavour.Robust)
        {
            if (offset == BuffOffset && data.Length == BuffSize)
                Buff = BinaryPrimitives.ReadUInt32LittleEndian(data);
            return;
        }
        ulong address = offset;
        while (!data.IsEmpty)
        {
            int piece = QemuAccessSplit.PieceSize(address, data.Length);
            // seed demo_mmio_write: only (addr 0, size 4) stores, buff = val.
            if (address == BuffOffset && piece == BuffSize)
                Buff = BinaryPrimitives.ReadUInt32LittleEndian(data);
            data = data[piece..];
            address = unchecked(address + (ulong)piece);
        }
    }

    /// <summary>Seed flavour keeps <c>buff</c> (no reset handler in the seed); robust clears it.</summary>
    protected override void OnReset()
    {
        if (Flavour == Flavour.Robust)
            Buff = 0;
    }
}
