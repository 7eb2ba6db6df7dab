/* stress: thousands of requests against the virtio-demo device (or its vhost backend), several in flight, with
 * VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC negotiated when offered, a queue smaller than the request count (the
 * ring slots wrap many times; requests > 65536 also wrap the 16-bit indices), every response checked against a
 * model of the device (Sim.Devices/Virtio/Demo/DemoProtocol.cs: opt 0 reads the value, opt 1 stores it, any other
 * opt echoes buff; the device serves chains in available-ring order). Prints a summary; exit status 1 on any
 * mismatch. Parameters: requests (default 4096), arg[0] = queue size (default 16; modern only, legacy keeps the
 * device's), arg[1] = requests in flight (default 8), arg[2] = 1 to negotiate neither EVENT_IDX nor INDIRECT,
 * transport (default modern), irq (default msix). */
#include "common.h"

#define VIRTIO_ID_DEMO 44
#define SLOTS_MAX 64
#define REQUEST_BYTES 8
#define RESPONSE_BYTES 8
#define MISMATCH_LINES_MAX 8

struct slot {
    u32 buffers;  /* request (8 bytes) then response (8 bytes) */
    u32 table;    /* indirect table: two descriptors */
    u32 opt, expected, seq;
    bool busy;
};

static struct vpci dev;
static struct vqueue vq;
static struct slot slots[SLOTS_MAX];
static int slot_of_head[VQ_SIZE_MAX];
static volatile u32 completed;
static u32 mismatches, bad_heads;

static void on_used(struct vqueue *q, u16 head, u32 len)
{
    (void)q;
    int s = head < VQ_SIZE_MAX ? slot_of_head[head] : -1;
    if (s < 0 || !slots[s].busy) {
        bad_heads++;
        return;
    }
    struct slot *sl = &slots[s];
    u32 opt2 = *(volatile u32 *)(sl->buffers + REQUEST_BYTES);
    u32 buff2 = *(volatile u32 *)(sl->buffers + REQUEST_BYTES + 4);
    if (opt2 != sl->opt || buff2 != sl->expected || len != RESPONSE_BYTES) {
        if (mismatches < MISMATCH_LINES_MAX) {
            rt_printf("stress: request %u (opt %u): got opt %u value %x len %u, expected value %x len %u\n",
                sl->seq, sl->opt, opt2, buff2, len, sl->expected, RESPONSE_BYTES);
        }
        mismatches++;
    }
    sl->busy = false;
    slot_of_head[head] = -1;
    completed++;
}

static void stress_done(struct vqueue *q) { vq_drain_used(q, on_used); }

/* A value that changes with every request and looks nothing like its neighbours. */
static u32 mix(u32 i)
{
    u32 x = i * 0x9E3779B1u;
    return x ^ (x >> 15);
}

int guest_main(void)
{
    u32 requests = rt_param_or(rt_params.requests, 4096);
    u32 queue_size = rt_param_or(rt_params.arg[0], 16);
    u32 in_flight = rt_param_or(rt_params.arg[1], 8);
    bool plain = rt_params.arg[2] == 1;
    rt_irq_handler = guest_irq;

    struct pci_windows w;
    struct pci_function f;
    struct dma dma;
    pci_windows_init(&w);
    dma_init(&dma, DMA_WINDOW_BASE, DMA_WINDOW_BYTES);
    if (!vpci_find_device(VIRTIO_ID_DEMO, &w, &f) || !vpci_probe(&dev, &f, param_transport(VPCI_MODERN), param_irq(VPCI_MSIX))) {
        rt_printf("stress: no virtio-demo device\n");
        return 1;
    }
    u64 wanted = plain ? 0 : (1ull << VIRTIO_F_EVENT_IDX) | (1ull << VIRTIO_F_INDIRECT_DESC);
    if (!vpci_negotiate(&dev, wanted)) {
        rt_printf("stress: feature negotiation failed\n");
        return 1;
    }
    vpci_setup_interrupts(&dev, 1);
    if (!vpci_setup_queue(&dev, &vq, 0, &dma, (int)queue_size)) {
        rt_printf("stress: queue setup failed\n");
        return 1;
    }
    vq.callback = stress_done;
    bool indirect = vpci_has_feature(&dev, VIRTIO_F_INDIRECT_DESC);
    bool event_idx = vpci_has_feature(&dev, VIRTIO_F_EVENT_IDX);
    /* Direct chains take two descriptors each: at most size / 2 of them fit at once. */
    u32 size = (u32)vq.ring.size;
    if (in_flight > SLOTS_MAX) in_flight = SLOTS_MAX;
    if (in_flight > size / 2) in_flight = size / 2;
    if (in_flight == 0) in_flight = 1;
    for (u32 s = 0; s < in_flight; s++) {
        slots[s].buffers = dma_alloc(&dma, REQUEST_BYTES + RESPONSE_BYTES, 16);
        slots[s].table = dma_alloc(&dma, 32, 16);
    }
    for (int h = 0; h < VQ_SIZE_MAX; h++) slot_of_head[h] = -1;
    vpci_driver_ok(&dev);
    guest_device = &dev;
    rt_printf("stress: %u requests, queue size %u, %u in flight, event_idx %u, indirect %u, transport %s, irq %s\n",
        requests, size, in_flight, (u32)event_idx, (u32)indirect, dev.transport == VPCI_MODERN ? "modern" : "legacy",
        dev.irq == VPCI_MSIX ? "msix" : "intx");

    u32 device_value = 0; /* the model: the device's value after every request submitted so far */
    u32 submitted = 0, reads = 0, writes = 0, others = 0, indirects = 0, batches = 0;
    cli();
    while (completed < requests) {
        if (virtq_broken(&vq.ring)) break;
        /* Fill every free slot, then one kick decision for the batch (EVENT_IDX: avail_event decides). */
        u32 added = 0;
        for (u32 s = 0; s < in_flight && submitted < requests; s++) {
            struct slot *sl = &slots[s];
            if (sl->busy) continue;
            u32 i = submitted;
            u32 opt = i % 5 == 4 ? 0x100u + (i & 7) : (i % 3 == 2 ? 0 : 1); /* writes, reads, some unknown opts */
            u32 buff = mix(i);
            if (opt == 1) { device_value = buff; sl->expected = buff; writes++; }
            else if (opt == 0) { sl->expected = device_value; reads++; }
            else { sl->expected = buff; others++; }
            sl->opt = opt;
            sl->seq = i;
            volatile u32 *b = (volatile u32 *)sl->buffers;
            b[0] = opt;
            b[1] = buff;
            b[2] = 0xFFFFFFFFu;
            b[3] = 0xFFFFFFFFu;
            struct vq_buf out = { sl->buffers, REQUEST_BYTES }, in = { sl->buffers + REQUEST_BYTES, RESPONSE_BYTES };
            u16 head;
            bool ok = indirect && (i & 1) ? virtq_add_indirect(&vq.ring, &out, 1, &in, 1, sl->table, &head)
                                          : virtq_add(&vq.ring, &out, 1, &in, 1, &head);
            if (!ok) rt_panic("stress: ring full with a free slot");
            if (indirect && (i & 1)) indirects++;
            sl->busy = true;
            slot_of_head[head] = (int)s;
            submitted++;
            added++;
        }
        if (added != 0) {
            vq_kick(&vq);
            batches++;
        }
        /* Wait for at least one completion. */
        u32 before = completed;
        while (completed == before && !virtq_broken(&vq.ring)) {
            sti_hlt();
            cli();
        }
    }
    bool ok = completed == requests && mismatches == 0 && bad_heads == 0 && !virtq_broken(&vq.ring);
    rt_printf("stress: completed %u of %u (reads %u, writes %u, other opts %u, indirect %u), batches %u, kicks %u, kicks suppressed %u\n",
        completed, requests, reads, writes, others, indirects, batches, vq.notifies, vq.notifies_suppressed);
    rt_printf("stress: interrupts %u, ring wraps %u, avail.idx %u, mismatches %u, unknown heads %u, queue error %u\n",
        dev.interrupts_handled, submitted / size, (u32)vq.ring.avail_shadow, mismatches, bad_heads, (u32)vq.ring.error);
    rt_debug(completed);
    rt_debug(mismatches);
    rt_printf("stress: %s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
