/* demo: seed 000 lab 1 (src/Devices/demo-pci/Driver/DemoPciDriver.cs + Scenario/DemoGuest.cs). demo_probe finds the
 * 1234:DE00 function, enables memory decoding and maps BAR0; the test program writes 0x1333, 0x2333, 0x3333 and
 * reads each back: one MMIO exit per access. Parameters: requests = rounds (default 1), flags bit 0 = dmesg. */
#include "common.h"

#define DEMO_VENDOR 0x1234
#define DEMO_DEVICE 0xDE00

int guest_main(void)
{
    static const u32 values[3] = { 0x1333, 0x2333, 0x3333 };
    u32 rounds = rt_param_or(rt_params.requests, 1);
    bool dmesg = dmesg_on();
    struct pci_windows w;
    struct pci_function f;
    pci_windows_init(&w);
    if (!pci_find(DEMO_VENDOR, DEMO_DEVICE, &w, false, &f)) {
        rt_printf("open /dev/demo error.\n");
        return 1;
    }
    if (dmesg) rt_printf("kernel: demo_probe() begin\n");
    pci_enable(&f, false);
    if (!f.bars[0].present || f.bars[0].io) {
        if (dmesg) rt_printf("kernel: failed to read BAR0\n");
        rt_printf("open /dev/demo error.\n");
        return 1;
    }
    u32 bar0 = (u32)f.bars[0].address;
    if (dmesg) rt_printf("kernel: demo_probe() end\n");
    rt_printf("open /dev/demo success..\n");
    for (u32 round = 0; round < rounds; round++) {
        int step = 0;
        for (int i = 0; i < 3; i++) {
            mmio_write32(bar0, values[i]); /* demo_write: writel(val, bar0) */
            rt_printf("%d. write %x\n", step++, values[i]);
            u32 read = mmio_read32(bar0); /* demo_read: readl(bar0) */
            rt_printf("%d. read = %x\n", step++, read);
        }
    }
    return 0;
}
