/* blk: seed 003 (src/Devices/virtio-blk/Driver/VirtioBlkDriver.cs + Scenario/BlkGuest.cs): virtio-blk over the legacy
 * I/O BAR with INTx by default. GET_ID, `writes` writes of PRNG data at PRNG sectors each read back and compared,
 * FLUSH, a read one sector past the end that must be IOERR. The guest PRNG is the simulation's
 * (Prng(DeriveSeed(seed, 1))), so a run with the same seed picks the same sectors and data. Parameters: requests =
 * writes (default 4), arg[0] = sectors per request (default 2, at most 128), seed, transport (default legacy), irq
 * (default intx). Exit status 1 when a step's outcome is not what a correct device gives. */
#include "common.h"

#define VIRTIO_ID_BLOCK 2
#define F_SEG_MAX 2
#define F_RO 5
#define F_BLK_SIZE 6
#define F_FLUSH 9
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define SECTOR 512u
#define ID_BYTES 20
#define DATA_BYTES_MAX (64u * 1024u)
#define GUEST_PRNG_STREAM 1 /* Simulation.GuestPrngStream */

static struct vpci dev;
static struct vqueue vq;
static u32 header, status, data;
static u16 inflight_head;
static bool inflight;
static volatile int completed_flag;
static u8 last_status;
static u32 last_len;
static u8 written[DATA_BYTES_MAX];

static void on_used(struct vqueue *q, u16 head, u32 len)
{
    (void)q;
    if (!inflight || head != inflight_head) return;
    last_status = *(volatile u8 *)status;
    last_len = len;
    inflight = false;
    completed_flag = 1;
}

static void virtblk_done(struct vqueue *q) { vq_drain_used(q, on_used); }

static bool virtblk_probe(u64 *capacity, bool *read_only)
{
    struct pci_windows w;
    struct pci_function f;
    struct dma dma;
    pci_windows_init(&w);
    dma_init(&dma, DMA_WINDOW_BASE, DMA_WINDOW_BYTES);
    if (!vpci_find_device(VIRTIO_ID_BLOCK, &w, &f)) return false;
    if (!vpci_probe(&dev, &f, param_transport(VPCI_LEGACY), param_irq(VPCI_INTX))) return false;
    u64 supported = (1ull << F_FLUSH) | (1ull << F_BLK_SIZE) | (1ull << F_SEG_MAX) | (1ull << F_RO);
    if (!vpci_negotiate(&dev, supported)) return false;
    vpci_setup_interrupts(&dev, 1);
    if (!vpci_setup_queue(&dev, &vq, 0, &dma, 0)) return false;
    vq.callback = virtblk_done;
    *capacity = vpci_read_device_config(&dev, 0, 8);
    *read_only = vpci_has_feature(&dev, F_RO);
    header = dma_alloc(&dma, 16, 16);
    status = dma_alloc(&dma, 1, 1);
    data = dma_alloc(&dma, DATA_BYTES_MAX, 512);
    vpci_driver_ok(&dev);
    guest_device = &dev;
    return true;
}

/* One request, virtblk_add_req's layout: header (readable), data (readable for OUT, writable otherwise), status
 * (writable, last); kick; STI;HLT until virtblk_done reaped it. False when the ring refused it or broke. */
static bool submit(u32 type, u64 sector, u32 bytes)
{
    volatile u32 *h = (volatile u32 *)header;
    h[0] = type;
    h[1] = 0;
    h[2] = (u32)sector;
    h[3] = (u32)(sector >> 32);
    *(volatile u8 *)status = 0xFF; /* so a device that never writes the status shows */
    struct vq_buf hdr = { header, 16 }, st = { status, 1 }, dat = { data, bytes };
    struct vq_buf out[2], in[2];
    int nout = 0, nin = 0;
    out[nout++] = hdr;
    if (bytes != 0 && type == T_OUT) out[nout++] = dat;
    if (bytes != 0 && type != T_OUT) in[nin++] = dat;
    in[nin++] = st;
    u16 head;
    if (!virtq_add(&vq.ring, out, nout, in, nin, &head)) return false;
    inflight_head = head;
    inflight = true;
    completed_flag = 0;
    vq_kick(&vq);
    cli();
    while (!completed_flag) {
        if (virtq_broken(&vq.ring)) return false;
        sti_hlt();
        cli();
    }
    return true;
}

static const char *status_name(u8 s)
{
    static char other[16];
    if (s == S_OK) return "OK";
    if (s == S_IOERR) return "IOERR";
    if (s == S_UNSUPP) return "UNSUPP";
    static const char hex[] = "0123456789abcdef";
    memcpy(other, "status 0x", 9);
    other[9] = hex[s >> 4];
    other[10] = hex[s & 15];
    other[11] = 0;
    return other;
}

/* The id up to its NUL, quoted when printable, else all 20 bytes as hex (BlkGuest.FormatId). */
static void print_id(const volatile u8 *id)
{
    int end = 0;
    while (end < ID_BYTES && id[end] != 0) end++;
    bool printable = true;
    for (int i = 0; i < end; i++) printable &= id[i] >= 0x20 && id[i] <= 0x7E;
    if (printable) {
        rt_putc('"');
        for (int i = 0; i < end; i++) rt_putc((char)id[i]);
        rt_putc('"');
    } else {
        for (int i = 0; i < ID_BYTES; i++) rt_printf("%02x", id[i]);
    }
}

int guest_main(void)
{
    u32 writes = rt_param_or(rt_params.requests, 4);
    u32 sectors = rt_param_or(rt_params.arg[0], 2);
    if (sectors > DATA_BYTES_MAX / SECTOR) sectors = DATA_BYTES_MAX / SECTOR;
    struct prng prng;
    prng_init(&prng, prng_derive_seed(param_seed(), GUEST_PRNG_STREAM));
    rt_irq_handler = guest_irq;
    u64 capacity;
    bool read_only;
    if (!virtblk_probe(&capacity, &read_only)) {
        rt_printf("blk: probe failed\n");
        return 1;
    }
    rt_printf("blk: capacity %llu sectors (%llu bytes)%s\n", capacity, capacity * SECTOR, read_only ? " read-only" : "");
    u32 bytes = sectors * SECTOR;
    u32 requests = 0, mismatches = 0, failures = 0;

    if (!submit(T_GET_ID, 0, ID_BYTES)) goto broken;
    requests++;
    rt_printf("get_id: %s len=%u id=", status_name(last_status), last_len);
    print_id((const volatile u8 *)data);
    rt_printf("\n");

    u64 span = capacity >= sectors ? capacity - sectors + 1 : 1;
    for (u32 i = 0; i < writes; i++) {
        u64 sector = prng_below(&prng, span);
        for (u32 k = 0; k < bytes; k++) written[k] = prng_byte(&prng);
        memcpy((void *)data, written, bytes);
        if (!submit(T_OUT, sector, bytes)) goto broken;
        requests++;
        u8 wstatus = last_status;
        u32 wlen = last_len;
        memset((void *)data, 0, bytes); /* so the read must bring the data back */
        if (!submit(T_IN, sector, bytes)) goto broken;
        requests++;
        bool match = memcmp((const void *)data, written, bytes) == 0;
        if (!match) mismatches++;
        if (wstatus != S_OK || last_status != S_OK || !match) failures++;
        rt_printf("write sector %llu x%u: %s len=%u; ", sector, sectors, status_name(wstatus), wlen);
        rt_printf("read back: %s len=%u %s\n", status_name(last_status), last_len, match ? "match" : "MISMATCH");
    }

    if (!submit(T_FLUSH, 0, 0)) goto broken;
    requests++;
    if (last_status != S_OK) failures++;
    rt_printf("flush: %s len=%u\n", status_name(last_status), last_len);

    if (!submit(T_IN, capacity, SECTOR)) goto broken;
    requests++;
    if (last_status != S_IOERR) failures++;
    rt_printf("read sector %llu (one past the end): %s len=%u\n", capacity, status_name(last_status), last_len);

    rt_printf("blk: done, %u requests, %u mismatches, %u failures\n", requests, mismatches, failures);
    return failures == 0 ? 0 : 1;

broken:
    rt_printf("blk: request not queued or queue broken (error %u)\n", (u32)vq.ring.error);
    return 1;
}
