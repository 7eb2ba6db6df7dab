/* stress: thousands of requests against the virtio-demo device (or its vhost backend), several in flight, with
 * VIRTIO_F_EVENT_IDX and VIRTIO_F_INDIRECT_DESC negotiated when offered, a queue smaller than the request count (the
 * ring slots wrap many times; requests > 65536 also wrap the 16-bit indices), every response checked against a
 * model of the device (src/Devices/virtio-demo/Model/DemoProtocol.cs: opt 0 reads the value, opt 1 stores it, any other
 * opt echoes buff; the device serves chains in available-ring order). Prints a summary; exit status 1 on any
 * mismatch. Parameters: requests (default 4096), arg[0] = queue size (default 16; modern only, legacy keeps the
 * device's), arg[1] = requests in flight (default 8), arg[2] = 1 to negotiate neither EVENT_IDX nor INDIRECT,
 * arg[3] = 1 to drive a virtio-blk device instead (each slot owns 8 sectors and alternates writing one and reading
 * it back; completions may come in any order; used to check this guest against QEMU's virtio-blk, see
 * guest/README.md), transport (default modern), irq (default msix). */
#include "common.h"

#define VIRTIO_ID_DEMO 44
#define VIRTIO_ID_BLOCK 2
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_SECTOR 512
#define BLK_SECTORS_PER_SLOT 8
#define SLOTS_MAX 64
#define REQUEST_BYTES 8
#define RESPONSE_BYTES 8
#define MISMATCH_LINES_MAX 8

struct slot {
    u32 buffers;  /* demo: request (8 bytes) then response (8 bytes); blk: header (16), status (1) */
    u32 data;     /* blk: one sector */
    u32 table;    /* indirect table: up to three descriptors */
    u32 opt, expected, seq;
    u32 written[BLK_SECTORS_PER_SLOT]; /* blk: the seq whose pattern each of the slot's sectors holds (0: none) */
    u32 sector;   /* blk: the sector of the request in flight, and of the next read */
    bool busy, blk_read_next;
};
static bool blk;

static struct vpci dev;
static struct vqueue vq;
static struct slot slots[SLOTS_MAX];
static int slot_of_head[VQ_SIZE_MAX];
static volatile u32 completed;
static u32 mismatches, bad_heads;

/* The byte pattern a write of request `seq` puts in every byte position k of its sector. */
static u8 pattern(u32 seq, u32 k) { return (u8)((seq * 31u) ^ (k * 7u) ^ (seq >> 8)); }

static void blk_mismatch(struct slot *sl, const char *what, u32 got)
{
    if (mismatches < MISMATCH_LINES_MAX) rt_printf("stress: request %u (%s sector %u): %s %u\n", sl->seq, sl->opt == BLK_T_IN ? "read" : "write", sl->sector, what, got);
    mismatches++;
}

/* A blk completion: status OK, used.len = the bytes written into the chain (data for a read, + 1 status byte), and
 * for a read the pattern of the sector's last write. */
static void blk_check(struct slot *sl, u32 len)
{
    u8 status = *(volatile u8 *)(sl->buffers + 16);
    if (status != 0) blk_mismatch(sl, "status", status);
    u32 want_len = sl->opt == BLK_T_IN ? BLK_SECTOR + 1 : 1;
    if (len != want_len) blk_mismatch(sl, "used.len", len);
    if (sl->opt != BLK_T_IN || status != 0) return;
    u32 index = sl->sector % BLK_SECTORS_PER_SLOT;
    const volatile u8 *d = (const volatile u8 *)sl->data;
    for (u32 k = 0; k < BLK_SECTOR; k++) {
        if (d[k] != pattern(sl->written[index], k)) {
            blk_mismatch(sl, "data differs at byte", k);
            rt_printf("stress: byte %u is %x, the write of request %u put %x\n", k, d[k], sl->written[index], pattern(sl->written[index], k));
            return;
        }
    }
}

static void on_used(struct vqueue *q, u16 head, u32 len)
{
    (void)q;
    int s = head < VQ_SIZE_MAX ? slot_of_head[head] : -1;
    if (s < 0 || !slots[s].busy) {
        bad_heads++;
        return;
    }
    struct slot *sl = &slots[s];
    if (blk) {
        blk_check(sl, len);
        sl->busy = false;
        slot_of_head[head] = -1;
        completed++;
        return;
    }
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

static u16 last_head;

/* A blk request of slot `s`: alternately write a fresh pattern to the next of the slot's sectors and read it back. */
static void blk_submit(struct slot *sl, u32 s, u32 seq, bool use_indirect)
{
    sl->seq = seq;
    bool read = sl->blk_read_next;
    sl->blk_read_next = !read;
    if (!read) sl->sector = s * BLK_SECTORS_PER_SLOT + (seq / 2 + s) % BLK_SECTORS_PER_SLOT;
    sl->opt = read ? BLK_T_IN : BLK_T_OUT;
    volatile u32 *h = (volatile u32 *)sl->buffers;
    h[0] = sl->opt;
    h[1] = 0;
    h[2] = sl->sector;
    h[3] = 0;
    *(volatile u8 *)(sl->buffers + 16) = 0xFF;
    volatile u8 *d = (volatile u8 *)sl->data;
    if (read) {
        for (u32 k = 0; k < BLK_SECTOR; k++) d[k] = 0;
    } else {
        sl->written[sl->sector % BLK_SECTORS_PER_SLOT] = seq;
        for (u32 k = 0; k < BLK_SECTOR; k++) d[k] = pattern(seq, k);
    }
    struct vq_buf hdr = { sl->buffers, 16 }, data = { sl->data, BLK_SECTOR }, st = { sl->buffers + 16, 1 };
    struct vq_buf out[2] = { hdr, data }, in[2] = { data, st };
    int nout = read ? 1 : 2;
    const struct vq_buf *inp = read ? in : &in[1];
    int nin = read ? 2 : 1;
    bool ok = use_indirect ? virtq_add_indirect(&vq.ring, out, nout, inp, nin, sl->table, &last_head)
                           : virtq_add(&vq.ring, out, nout, inp, nin, &last_head);
    if (!ok) rt_panic("stress: ring full with a free slot");
    sl->busy = true;
}

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
    blk = rt_params.arg[3] == 1;
    rt_irq_handler = guest_irq;

    struct pci_windows w;
    struct pci_function f;
    struct dma dma;
    pci_windows_init(&w);
    dma_init(&dma, DMA_WINDOW_BASE, DMA_WINDOW_BYTES);
    if (!vpci_find_device(blk ? VIRTIO_ID_BLOCK : VIRTIO_ID_DEMO, &w, &f) || !vpci_probe(&dev, &f, param_transport(VPCI_MODERN), param_irq(VPCI_MSIX))) {
        rt_printf("stress: no %s device\n", blk ? "virtio-blk" : "virtio-demo");
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
    /* Direct chains take two descriptors each (three for blk): at most size / 2 (size / 3) of them fit at once. */
    u32 size = (u32)vq.ring.size;
    u32 chain = blk ? 3 : 2;
    if (in_flight > SLOTS_MAX) in_flight = SLOTS_MAX;
    if (in_flight > size / chain) in_flight = size / chain;
    if (in_flight == 0) in_flight = 1;
    for (u32 s = 0; s < in_flight; s++) {
        slots[s].buffers = dma_alloc(&dma, 32, 16); /* demo: 16 bytes; blk: 16 + status */
        slots[s].data = dma_alloc(&dma, BLK_SECTOR, 16);
        slots[s].table = dma_alloc(&dma, 48, 16);
    }
    for (int h = 0; h < VQ_SIZE_MAX; h++) slot_of_head[h] = -1;
    vpci_driver_ok(&dev);
    guest_device = &dev;
    rt_printf("stress: %s, %u requests, queue size %u, %u in flight, event_idx %u, indirect %u, transport %s, irq %s\n",
        blk ? "virtio-blk" : "virtio-demo", requests, size, in_flight, (u32)event_idx, (u32)indirect, dev.transport == VPCI_MODERN ? "modern" : "legacy",
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
            if (blk) {
                blk_submit(sl, s, i, indirect && (i & 1));
                if (indirect && (i & 1)) indirects++;
                if (sl->opt == BLK_T_IN) reads++;
                else writes++;
                slot_of_head[last_head] = (int)s;
                submitted++;
                added++;
                continue;
            }
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
