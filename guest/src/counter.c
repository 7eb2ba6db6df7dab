/* counter: seed 002 (src/Devices/virtio-counter/Driver/VirtioCounterDriver.cs + Scenario/CounterGuest.cs). The
 * device's timer raises a configuration-change interrupt every period; virttest_changed queues print_val_func,
 * which the idle loop runs: num[0]++, add the 4-byte out buffer, kick; test_ack reaps one buffer per interrupt.
 * The seed's quirks are kept (every request points at the same num[0], the add's result is ignored). The guest
 * stops after `ticks` acknowledged requests. Parameters: requests = ticks (default 5), transport (default
 * modern), irq (default msix). */
#include "common.h"

#define VIRTIO_ID_COUNTER 21
#define F_CAN_PRINT 0
#define PRINT_QUEUE 0

static struct vpci dev;
static struct vqueue vq;
static u32 num;                /* vb->num[0] in DMA memory */
static u32 counter;
static volatile int work_pending;
static volatile u32 acks;
static u32 sent, add_failures, config_changes;

/* virttest_changed (interrupt context): queue_work, a no-op while the work is pending. */
static void virttest_changed(struct vpci *d)
{
    (void)d;
    config_changes++;
    rt_printf("kernel: virttest virttest_changed\n");
    work_pending = 1;
}

/* test_ack: one virtqueue_get_buf, only when the ring has used entries (vring_interrupt's more_used check). */
static void test_ack(struct vqueue *q)
{
    if (!virtq_has_used(&q->ring)) return;
    rt_printf("kernel: virttest get ack\n");
    u16 head;
    u32 len;
    if (virtq_get_used(&q->ring, &head, &len)) acks++;
}

/* print_val_func: runs from the idle loop (process context), interrupts off as in the simulated run's one step. */
static void print_val_func(void)
{
    rt_printf("kernel: virttest get config change\n");
    counter++;
    *(volatile u32 *)num = counter;
    struct vq_buf out = { num, 4 };
    u16 head;
    if (!virtq_add(&vq.ring, &out, 1, NULL, 0, &head)) add_failures++;
    vq_kick(&vq);
    sent++;
}

static bool virttest_probe(void)
{
    struct pci_windows w;
    struct pci_function f;
    struct dma dma;
    pci_windows_init(&w);
    dma_init(&dma, DMA_WINDOW_BASE, DMA_WINDOW_BYTES);
    rt_printf("kernel: ******create virttest\n");
    if (!vpci_find_device(VIRTIO_ID_COUNTER, &w, &f)) return false;
    if (!vpci_probe(&dev, &f, param_transport(VPCI_MODERN), param_irq(VPCI_MSIX))) return false;
    if (!vpci_negotiate(&dev, 1ull << F_CAN_PRINT)) return false;
    if (!vpci_has_feature(&dev, F_CAN_PRINT)) return false;
    vpci_setup_interrupts(&dev, 1);
    if (!vpci_setup_queue(&dev, &vq, PRINT_QUEUE, &dma, 0)) return false;
    vq.callback = test_ack;
    dev.config_changed = virttest_changed;
    num = dma_alloc(&dma, 4, 4);
    *(volatile u32 *)num = 0;
    vpci_driver_ok(&dev);
    guest_device = &dev;
    return true;
}

int guest_main(void)
{
    u32 ticks = rt_param_or(rt_params.requests, 5);
    rt_irq_handler = guest_irq;
    if (!virttest_probe()) {
        rt_printf("kernel: virttest probe failed\n");
        return 1;
    }
    cli();
    while (acks < ticks) {
        if (work_pending) {
            work_pending = 0;
            print_val_func();
            continue;
        }
        sti_hlt();
        cli();
    }
    return 0;
}
