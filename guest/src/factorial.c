/* factorial: seed 001 (src/Devices/virtio-factorial/Driver/VirtioFactorialDriver.cs + Scenario/FactorialGuest.cs).
 * virttest_probe (VIRTIO_TEST_F_CAN_PRINT), then for each argument: {arg1 = n, arg2 = "hello back end!"} out,
 * {ret} in, kick, STI;HLT until test_request_done has reaped it, print "n! = ret". Parameters: requests (default
 * one per argument, cycling), arg[0] = count of arguments in arg[1..7] (0: the default 0,1,5,10,12,13),
 * transport (default modern), irq (default msix), flags bit 0 = dmesg. */
#include "common.h"

#define VIRTIO_ID_TEST 45
#define F_CAN_PRINT 0
#define REQUEST_BYTES 36 /* arg1 (le32) + arg2 (char[32]) */
#define RESPONSE_BYTES 4 /* ret (le32) */

static struct vpci dev;
static struct vqueue vq;
static u32 state; /* req then res */
static volatile u32 completed;
static u32 last_ret;
static bool dmesg;

static void on_used(struct vqueue *q, u16 head, u32 len)
{
    (void)q;
    (void)head;
    (void)len;
    last_ret = *(volatile u32 *)(state + REQUEST_BYTES);
    completed++;
    if (dmesg) rt_printf("kernel: virtio response ret is %d\n", (s32)last_ret);
}

/* test_request_done (interrupt context). */
static void test_request_done(struct vqueue *q)
{
    if (dmesg) rt_printf("kernel:  test_request_done called, line: 63 \n");
    vq_drain_used(q, on_used);
}

static bool virttest_probe(void)
{
    struct pci_windows w;
    struct pci_function f;
    struct dma dma;
    pci_windows_init(&w);
    dma_init(&dma, DMA_WINDOW_BASE, DMA_WINDOW_BYTES);
    if (!vpci_find_device(VIRTIO_ID_TEST, &w, &f)) return false;
    if (!vpci_probe(&dev, &f, param_transport(VPCI_MODERN), param_irq(VPCI_MSIX))) return false;
    if (!vpci_negotiate(&dev, 1ull << F_CAN_PRINT)) return false;
    if (!vpci_has_feature(&dev, F_CAN_PRINT)) return false;
    vpci_setup_interrupts(&dev, 1);
    if (!vpci_setup_queue(&dev, &vq, 0, &dma, 0)) return false;
    vq.callback = test_request_done;
    state = dma_alloc(&dma, REQUEST_BYTES + RESPONSE_BYTES, 8);
    vpci_driver_ok(&dev);
    guest_device = &dev;
    if (dmesg) rt_printf("kernel: misc register has succeeded\n");
    return true;
}

/* virtio_test_submit_request(num): build_test_request, add, kick; returns without waiting. */
static bool submit(u32 num)
{
    static const char greeting[] = "hello back end!";
    u8 *req = (u8 *)state;
    memset(req, 0, REQUEST_BYTES); /* strncpy pads arg2 with NULs */
    *(volatile u32 *)state = num;
    memcpy(req + 4, greeting, sizeof greeting - 1);
    struct vq_buf out = { state, REQUEST_BYTES }, in = { state + REQUEST_BYTES, RESPONSE_BYTES };
    u16 head;
    if (!virtq_add(&vq.ring, &out, 1, &in, 1, &head)) return false;
    vq_kick(&vq);
    return true;
}

int guest_main(void)
{
    static const u32 defaults[] = { 0, 1, 5, 10, 12, 13 };
    const u32 *args = defaults;
    u32 nargs = sizeof defaults / sizeof defaults[0];
    if (rt_params.arg[0] != RT_PARAM_DEFAULT && rt_params.arg[0] >= 1 && rt_params.arg[0] <= 7) {
        args = &rt_params.arg[1];
        nargs = rt_params.arg[0];
    }
    u32 requests = rt_param_or(rt_params.requests, nargs);
    dmesg = dmesg_on();
    rt_irq_handler = guest_irq;
    if (!virttest_probe()) {
        rt_printf("ERROR: virtio_misc open failed!\n");
        return 1;
    }
    for (u32 i = 0; i < requests; i++) {
        u32 n = args[i % nargs];
        u32 before = completed;
        if (!submit(n)) {
            rt_printf("ERROR: write failed!\n");
            return 1;
        }
        cli();
        while (completed == before) {
            sti_hlt();
            cli();
        }
        rt_printf("%u! = %u\n", n, last_ret);
    }
    return 0;
}
