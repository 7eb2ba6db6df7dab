/* What the virtio guests share (src/Sim.Scenarios/VirtioGuestProgram.cs): transport and interrupt choices
 * from the parameter block, the DMA window, and an interrupt hook that hands the GSI to the probed driver (the
 * runtime EOIs). */
#ifndef GUEST_COMMON_H
#define GUEST_COMMON_H
#include "../rt/virtio.h"

static inline bool dmesg_on(void) { return (rt_params.flags & RT_FLAG_DMESG) != 0; }

static inline enum vpci_transport param_transport(enum vpci_transport fallback)
{
    return rt_params.transport == 0 ? VPCI_MODERN : rt_params.transport == 1 ? VPCI_LEGACY : fallback;
}

static inline enum vpci_irq param_irq(enum vpci_irq fallback)
{
    return rt_params.irq == 0 ? VPCI_MSIX : rt_params.irq == 1 ? VPCI_INTX : fallback;
}

static inline u64 param_seed(void) { return (u64)rt_params.seed_lo | ((u64)rt_params.seed_hi << 32); }

/* The probed device the interrupt hook serves (NULL until the probe succeeded: an early interrupt is only EOI'd). */
extern struct vpci *guest_device;
void guest_irq(u32 gsi);
#endif
