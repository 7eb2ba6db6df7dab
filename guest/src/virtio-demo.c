/* virtio-demo and vhost-demo: seed 000 labs 2 and 3 (src/Devices/virtio-demo/Driver/VirtioDemoDriver.cs +
 * Scenario/VirtioDemoGuest.cs; the same guest serves both backends). virtdemo_probe sets up one queue; the test
 * program writes 0x1333, 0x2333, 0x3333 and reads each back, each a send_kick request ({opt, buff} out, {opt2,
 * buff2} in) that waits in STI;HLT until the callback's up(). Parameters: requests = rounds (default 1),
 * transport (default modern), irq (default msix), flags bit 0 = dmesg. */
#include "common.h"

#define VIRTIO_ID_DEMO 44

static struct vpci dev;
static struct vqueue vq;
static u32 state;             /* struct virtio_demo's opt, buff, opt2, buff2 (16 bytes of DMA memory) */
static volatile int semaphore; /* demo_io_sem */
static u32 val;               /* the seed's global val: buff2 of the last response */
static bool dmesg;

static void on_used(struct vqueue *q, u16 head, u32 len)
{
    (void)q;
    (void)head;
    (void)len;
    u32 opt2 = *(volatile u32 *)(state + 8);
    u32 buff2 = *(volatile u32 *)(state + 12);
    if (dmesg) {
        rt_printf("kernel: check ret opt = %x\n", opt2);
        rt_printf("kernel: check ret buff = %x\n", buff2);
    }
    val = buff2;
    semaphore++;
    if (dmesg) rt_printf("kernel: demo_io_sem up\n");
}

/* demo_handle_request, the vq callback (interrupt context). */
static void demo_handle_request(struct vqueue *q)
{
    if (dmesg) rt_printf("kernel: demo_handle_request() begin\n");
    vq_drain_used(q, on_used);
    if (dmesg) rt_printf("kernel: demo_handle_request() end\n");
}

static bool virtdemo_probe(void)
{
    struct pci_windows w;
    struct pci_function f;
    struct dma dma;
    pci_windows_init(&w);
    dma_init(&dma, DMA_WINDOW_BASE, DMA_WINDOW_BYTES);
    if (!vpci_find_device(VIRTIO_ID_DEMO, &w, &f)) return false;
    if (dmesg) rt_printf("kernel: virtdemo_probe() begin\n");
    if (!vpci_probe(&dev, &f, param_transport(VPCI_MODERN), param_irq(VPCI_MSIX))) return false;
    if (!vpci_negotiate(&dev, 0)) return false;
    vpci_setup_interrupts(&dev, 1);
    if (!vpci_setup_queue(&dev, &vq, 0, &dma, 0)) return false;
    vq.callback = demo_handle_request;
    state = dma_alloc(&dma, 16, 8);
    vpci_driver_ok(&dev);
    guest_device = &dev;
    if (dmesg) rt_printf("kernel: virtdemo_probe() end\n");
    return true;
}

/* send_kick(v1, v2): the request, the kick when the device wants it, then down() on the semaphore. */
static void send_kick(u32 v1, u32 v2)
{
    if (dmesg) rt_printf("kernel: send_kick() begin\n");
    *(volatile u32 *)(state + 0) = v1;
    *(volatile u32 *)(state + 4) = v2;
    *(volatile u32 *)(state + 8) = 0;
    *(volatile u32 *)(state + 12) = 0;
    struct vq_buf out = { state, 8 }, in = { state + 8, 8 };
    u16 head;
    if (!virtq_add(&vq.ring, &out, 1, &in, 1, &head)) return; /* ring full or broken: the seed ignores it too */
    vq_kick(&vq);
    rt_wait_until(&semaphore); /* down_interruptible(&demo_io_sem) */
    semaphore--;
    if (dmesg) {
        rt_printf("kernel: demo_io_sem down\n");
        rt_printf("kernel: send_kick() end\n");
    }
}

int guest_main(void)
{
    static const u32 values[3] = { 0x1333, 0x2333, 0x3333 };
    u32 rounds = rt_param_or(rt_params.requests, 1);
    dmesg = dmesg_on();
    rt_irq_handler = guest_irq;
    if (!virtdemo_probe()) {
        rt_printf("open /dev/virtio_demo error.\n");
        return 1;
    }
    rt_printf("open /dev/virtio_demo success..\n");
    for (u32 round = 0; round < rounds; round++) {
        int step = 0;
        for (int i = 0; i < 3; i++) {
            send_kick(1, values[i]); /* demo_write */
            rt_printf("%d. write %x\n", step++, values[i]);
            send_kick(0, 0); /* demo_read */
            rt_printf("%d. read = %x\n", step++, val);
        }
    }
    return 0;
}
