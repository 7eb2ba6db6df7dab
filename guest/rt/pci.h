/* PCI configuration mechanism #1 and enumeration (src/Sim.Guest/Drivers/PciConfigPorts.cs, PciEnumerator.cs,
 * GuestPciFunction.cs, PciResourceWindows.cs: the same accesses in the same order). */
#ifndef PCI_H
#define PCI_H
#include "rt.h"

#define PCI_SLOTS 32
#define PCI_BARS 6
#define PCI_VENDOR_ID 0x00
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2C
#define PCI_SUBSYSTEM_ID 0x2E
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3C
#define PCI_INTERRUPT_PIN 0x3D
#define PCI_HEADER_SIZE 0x40
#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_WALK_MAX 48
#define PCI_NO_VENDOR 0xFFFF

/* SeaBIOS pci_setup's windows (PciResourceWindows): MMIO from 0xFE000000 below the IOAPIC, I/O from 0xC000. */
#define PCI_MMIO_BASE 0xFE000000ull
#define PCI_MMIO_LIMIT 0xFEC00000ull
#define PCI_IO_BASE 0xC000ull
#define PCI_IO_LIMIT 0x10000ull

struct pci_windows { u64 next_mmio, next_io; };
void pci_windows_init(struct pci_windows *w);

struct pci_bar { bool present, io; u64 address, size; };

struct pci_function {
    int slot;
    u16 vendor_id, device_id, subsystem_vendor_id, subsystem_id;
    u8 revision, interrupt_pin, interrupt_line;
    struct pci_bar bars[PCI_BARS];
};

u32 pci_config_read(int slot, int reg, int size);
void pci_config_write(int slot, int reg, int size, u32 value);
/* PiixIntxRouter.GsiFor: PIRQ[(slot + pin - 1) & 3] → SeaBIOS pci_irqs 10, 10, 11, 11. */
u32 pci_intx_gsi(int slot, int pin);
/* PciEnumerator.TryFind + Setup: the first function with vendor:device; false when none. */
bool pci_find(u16 vendor, u16 device, struct pci_windows *w, bool route_intx, struct pci_function *out);
/* PciEnumerator.Setup: identity, interrupt line, BAR sizing and programming. */
void pci_setup(int slot, struct pci_windows *w, bool route_intx, struct pci_function *out);
/* GuestPciFunction.Enable: decoding for the BARs present, bus mastering when asked. */
void pci_enable(struct pci_function *f, bool bus_master);
/* GuestPciFunction.FindCapability: the next capability with id after `after` (0: from the list head), or 0. */
int pci_find_capability(struct pci_function *f, u8 id, int after);
#endif
