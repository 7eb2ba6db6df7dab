#include "pci.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA 0xCFC
#define PCI_CONFIG_ENABLE 0x80000000u

void pci_windows_init(struct pci_windows *w)
{
    w->next_mmio = PCI_MMIO_BASE;
    w->next_io = PCI_IO_BASE;
}

/* PciResourceWindows.TryAllocate: a naturally aligned bump allocation; false when it does not fit. */
static bool windows_allocate(struct pci_windows *w, bool io, u64 size, u64 *address)
{
    if (size == 0 || (size & (size - 1)) != 0) return false;
    u64 next = io ? w->next_io : w->next_mmio;
    u64 limit = io ? PCI_IO_LIMIT : PCI_MMIO_LIMIT;
    u64 aligned = (next + size - 1) & ~(size - 1);
    if (aligned < next || aligned > limit || size > limit - aligned) return false;
    *address = aligned;
    if (io) w->next_io = aligned + size;
    else w->next_mmio = aligned + size;
    return true;
}

/* Linux arch/x86/pci/direct.c pci_conf1_read/write: address to 0xCF8, then size bytes at 0xCFC + (reg & 3). */
static u32 config_address(int slot, int reg) { return PCI_CONFIG_ENABLE | ((u32)slot << 11) | ((u32)reg & 0xFC); }

u32 pci_config_read(int slot, int reg, int size)
{
    outl(PCI_CONFIG_ADDRESS, config_address(slot, reg));
    u16 port = (u16)(PCI_CONFIG_DATA + (reg & 3));
    if (size == 1) return inb(port);
    if (size == 2) return inw(port);
    return inl(port);
}

void pci_config_write(int slot, int reg, int size, u32 value)
{
    outl(PCI_CONFIG_ADDRESS, config_address(slot, reg));
    u16 port = (u16)(PCI_CONFIG_DATA + (reg & 3));
    if (size == 1) outb(port, (u8)value);
    else if (size == 2) outw(port, (u16)value);
    else outl(port, value);
}

u32 pci_intx_gsi(int slot, int pin)
{
    static const u8 pirq_gsis[4] = { 10, 10, 11, 11 };
    return pirq_gsis[(slot + pin - 1) & 3];
}

bool pci_find(u16 vendor, u16 device, struct pci_windows *w, bool route_intx, struct pci_function *out)
{
    for (int slot = 0; slot < PCI_SLOTS; slot++) {
        u32 id = pci_config_read(slot, PCI_VENDOR_ID, 4);
        if ((u16)id != PCI_NO_VENDOR && (u16)id == vendor && (u16)(id >> 16) == device) {
            pci_setup(slot, w, route_intx, out);
            return true;
        }
    }
    return false;
}

void pci_setup(int slot, struct pci_windows *w, bool route_intx, struct pci_function *f)
{
    memset(f, 0, sizeof *f);
    f->slot = slot;
    u32 id = pci_config_read(slot, PCI_VENDOR_ID, 4);
    f->vendor_id = (u16)id;
    f->device_id = (u16)(id >> 16);
    f->revision = (u8)pci_config_read(slot, PCI_REVISION_ID, 1);
    u32 subsystem = pci_config_read(slot, PCI_SUBSYSTEM_VENDOR_ID, 4);
    f->subsystem_vendor_id = (u16)subsystem;
    f->subsystem_id = (u16)(subsystem >> 16);
    f->interrupt_pin = (u8)pci_config_read(slot, PCI_INTERRUPT_PIN, 1);
    u8 line = 0xFF;
    if (f->interrupt_pin >= 1 && f->interrupt_pin <= 4 && route_intx) line = (u8)pci_intx_gsi(slot, f->interrupt_pin);
    pci_config_write(slot, PCI_INTERRUPT_LINE, 1, line);
    f->interrupt_line = line;

    /* Sizing with decoding off, as Linux's pci_read_bases. */
    u16 command = (u16)pci_config_read(slot, PCI_COMMAND, 2);
    pci_config_write(slot, PCI_COMMAND, 2, command & ~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    for (int i = 0; i < PCI_BARS; i++) {
        int reg = PCI_BAR0 + 4 * i;
        u32 original = pci_config_read(slot, reg, 4);
        pci_config_write(slot, reg, 4, 0xFFFFFFFFu);
        u32 probe = pci_config_read(slot, reg, 4);
        pci_config_write(slot, reg, 4, original);
        if (probe == 0) continue;
        bool io = (probe & 1) != 0;
        bool is64 = !io && (probe & 0x6) == 0x4;
        u64 bits = io ? (probe & ~3u & 0xFFFFu) : (probe & ~0xFu);
        if (is64 && i + 1 < PCI_BARS) {
            int high = reg + 4;
            u32 original_high = pci_config_read(slot, high, 4);
            pci_config_write(slot, high, 4, 0xFFFFFFFFu);
            u32 probe_high = pci_config_read(slot, high, 4);
            pci_config_write(slot, high, 4, original_high);
            bits |= (u64)probe_high << 32;
        }
        u64 size = bits & (~bits + 1); /* Linux pci_size: the lowest writable address bit */
        if (size == 0) {
            if (is64) i++;
            continue;
        }
        u64 address;
        if (windows_allocate(w, io, size, &address)) {
            pci_config_write(slot, reg, 4, (u32)address | (io ? 1u : 0u));
            if (is64) pci_config_write(slot, reg + 4, 4, (u32)(address >> 32));
            f->bars[i].present = true;
            f->bars[i].io = io;
            f->bars[i].address = address;
            f->bars[i].size = size;
        }
        if (is64) i++;
    }
    pci_config_write(slot, PCI_COMMAND, 2, command);
}

void pci_enable(struct pci_function *f, bool bus_master)
{
    u16 command = (u16)pci_config_read(f->slot, PCI_COMMAND, 2);
    for (int i = 0; i < PCI_BARS; i++) {
        if (!f->bars[i].present) continue;
        command |= f->bars[i].io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    }
    if (bus_master) command |= PCI_COMMAND_MASTER;
    pci_config_write(f->slot, PCI_COMMAND, 2, command);
}

int pci_find_capability(struct pci_function *f, u8 id, int after)
{
    if ((pci_config_read(f->slot, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST) == 0) return 0;
    int pos = after == 0 ? (int)pci_config_read(f->slot, PCI_CAPABILITY_LIST, 1) : (int)pci_config_read(f->slot, after + 1, 1);
    for (int ttl = 0; ttl < PCI_CAP_WALK_MAX && pos >= PCI_HEADER_SIZE; ttl++) {
        pos &= ~3;
        if (pos > 256 - 2) return 0;
        u32 header = pci_config_read(f->slot, pos, 2);
        if ((header & 0xFF) == 0xFF) return 0;
        if ((header & 0xFF) == id) return pos;
        pos = (int)(header >> 8);
    }
    return 0;
}
