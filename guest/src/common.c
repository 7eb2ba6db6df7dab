#include "common.h"

struct vpci *guest_device;

void guest_irq(u32 gsi)
{
    if (guest_device) vpci_handle_interrupt(guest_device, gsi);
}
