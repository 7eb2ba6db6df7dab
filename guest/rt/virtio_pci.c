/* The virtio-pci transport driver (Sim.Guest/Drivers/VirtioPciDriver.cs, register for register). */
#include "virtio.h"

/* VIRTIO 1.2 §4.1.4.3 common configuration (VirtioPciLayout.Common*). */
#define COMMON_DFSELECT 0x00
#define COMMON_DF 0x04
#define COMMON_GFSELECT 0x08
#define COMMON_GF 0x0C
#define COMMON_MSIX_CONFIG 0x10
#define COMMON_STATUS 0x14
#define COMMON_Q_SELECT 0x16
#define COMMON_Q_SIZE 0x18
#define COMMON_Q_MSIX 0x1A
#define COMMON_Q_ENABLE 0x1C
#define COMMON_Q_NOFF 0x1E
#define COMMON_Q_DESC 0x20
#define COMMON_Q_DRIVER 0x28
#define COMMON_Q_DEVICE 0x30
/* §4.1.4.8 legacy I/O BAR 0 registers. */
#define LEGACY_HOST_FEATURES 0
#define LEGACY_GUEST_FEATURES 4
#define LEGACY_QUEUE_PFN 8
#define LEGACY_QUEUE_NUM 12
#define LEGACY_QUEUE_SEL 14
#define LEGACY_QUEUE_NOTIFY 16
#define LEGACY_STATUS 18
#define LEGACY_ISR 19
#define LEGACY_CONFIG_VECTOR 20
#define LEGACY_QUEUE_VECTOR 22
#define LEGACY_CONFIG_NO_MSIX 20
#define LEGACY_CONFIG_MSIX 24
#define LEGACY_QUEUE_ALIGN 4096u
/* §4.1.4 capability fields and types. */
#define CAP_CFG_TYPE 3
#define CAP_BAR 4
#define CAP_OFFSET 8
#define CAP_NOTIFY_MULTIPLIER 16
#define CAP_COMMON_CFG 1
#define CAP_NOTIFY_CFG 2
#define CAP_ISR_CFG 3
#define CAP_DEVICE_CFG 4
#define ISR_QUEUE 1
#define ISR_CONFIG 2
/* PCI 3.0 §6.8.2 MSI-X. */
#define MSIX_CONTROL 2
#define MSIX_TABLE 4
#define MSIX_ENABLE 0x8000
#define MSIX_FUNCTION_MASK 0x4000
#define MSIX_ENTRY_SIZE 16
#define MSI_ADDRESS 0xFEE00000u
#define RESET_POLLS_MAX 16
#define MSIX_VECTORS_USED_MAX (1 + VPCI_QUEUES_MAX)

void dma_init(struct dma *d, u32 base, u32 bytes)
{
    d->next = base;
    d->end = base + bytes;
}

u32 dma_alloc(struct dma *d, u32 length, u32 align)
{
    u32 aligned = (d->next + align - 1) & ~(align - 1);
    if (aligned < d->next || length > d->end || aligned > d->end - length) rt_panic("guest DMA window exhausted");
    d->next = aligned + length;
    return aligned;
}

static bool is_virtio_pci(u16 vendor, u16 device) { return vendor == VIRTIO_PCI_VENDOR && device >= 0x1000 && device <= 0x107F; }

bool vpci_find_device(u16 virtio_id, struct pci_windows *w, struct pci_function *out)
{
    for (int slot = 0; slot < PCI_SLOTS; slot++) {
        u32 id = pci_config_read(slot, PCI_VENDOR_ID, 4);
        if (!is_virtio_pci((u16)id, (u16)(id >> 16))) continue;
        u16 device = (u16)(id >> 16);
        u16 vid = device >= VIRTIO_PCI_MODERN_ID_BASE ? (u16)(device - VIRTIO_PCI_MODERN_ID_BASE) : (u16)pci_config_read(slot, PCI_SUBSYSTEM_ID, 2);
        if (vid == virtio_id) {
            pci_setup(slot, w, true, out);
            return true;
        }
    }
    return false;
}

static u32 common_read(struct vpci *d, int off, int size)
{
    u32 a = d->common + (u32)off;
    return size == 1 ? mmio_read8(a) : size == 2 ? mmio_read16(a) : mmio_read32(a);
}

static void common_write(struct vpci *d, int off, int size, u32 v)
{
    u32 a = d->common + (u32)off;
    if (size == 1) mmio_write8(a, (u8)v);
    else if (size == 2) mmio_write16(a, (u16)v);
    else mmio_write32(a, v);
}

static u32 legacy_read(struct vpci *d, int off, int size)
{
    u16 p = (u16)(d->io_base + off);
    return size == 1 ? inb(p) : size == 2 ? inw(p) : inl(p);
}

static void legacy_write(struct vpci *d, int off, int size, u32 v)
{
    u16 p = (u16)(d->io_base + off);
    if (size == 1) outb(p, (u8)v);
    else if (size == 2) outw(p, (u16)v);
    else outl(p, v);
}

bool vpci_probe(struct vpci *d, const struct pci_function *pci, enum vpci_transport t, enum vpci_irq irq)
{
    memset(d, 0, sizeof *d);
    d->pci = *pci;
    if (!is_virtio_pci(pci->vendor_id, pci->device_id)) return false;
    pci_enable(&d->pci, true);
    d->transport = t;
    if (t == VPCI_MODERN) {
        bool have_common = false, have_isr = false, have_device = false, have_notify = false;
        for (int cap = pci_find_capability(&d->pci, PCI_CAP_ID_VNDR, 0); cap != 0; cap = pci_find_capability(&d->pci, PCI_CAP_ID_VNDR, cap)) {
            u8 type = (u8)pci_config_read(pci->slot, cap + CAP_CFG_TYPE, 1);
            u32 bar = pci_config_read(pci->slot, cap + CAP_BAR, 1);
            u32 offset = pci_config_read(pci->slot, cap + CAP_OFFSET, 4);
            if (bar >= PCI_BARS || !d->pci.bars[bar].present || d->pci.bars[bar].io) continue;
            u32 at = (u32)d->pci.bars[bar].address + offset;
            if (type == CAP_COMMON_CFG && !have_common) { d->common = at; have_common = true; }
            else if (type == CAP_ISR_CFG && !have_isr) { d->isr = at; have_isr = true; }
            else if (type == CAP_DEVICE_CFG && !have_device) { d->device = at; have_device = true; }
            else if (type == CAP_NOTIFY_CFG && !have_notify) {
                d->notify = at;
                d->notify_multiplier = pci_config_read(pci->slot, cap + CAP_NOTIFY_MULTIPLIER, 4);
                have_notify = true;
            }
        }
        if (!have_common || !have_isr || !have_notify) return false;
    } else {
        if (!d->pci.bars[0].present || !d->pci.bars[0].io) return false;
        d->io_base = (u16)d->pci.bars[0].address;
    }
    if (irq == VPCI_MSIX) {
        d->msix_cap = pci_find_capability(&d->pci, PCI_CAP_ID_MSIX, 0);
        if (d->msix_cap != 0) {
            d->msix_table_size = (int)(pci_config_read(pci->slot, d->msix_cap + MSIX_CONTROL, 2) & 0x7FF) + 1;
            u32 table = pci_config_read(pci->slot, d->msix_cap + MSIX_TABLE, 4);
            u32 bir = table & 7;
            if (bir < PCI_BARS && d->pci.bars[bir].present && !d->pci.bars[bir].io) d->msix_table = (u32)d->pci.bars[bir].address + (table & ~7u);
            else d->msix_cap = 0;
        }
        /* Linux vp_find_vqs: fewer than two vectors (config + a shared queue vector) → INTx. */
        if (d->msix_cap == 0 || d->msix_table_size < 2) irq = VPCI_INTX;
    }
    d->irq = irq;
    d->virtio_id = pci->device_id >= VIRTIO_PCI_MODERN_ID_BASE ? (u16)(pci->device_id - VIRTIO_PCI_MODERN_ID_BASE) : pci->subsystem_id;
    return true;
}

static u8 get_status(struct vpci *d)
{
    return (u8)(d->transport == VPCI_MODERN ? common_read(d, COMMON_STATUS, 1) : legacy_read(d, LEGACY_STATUS, 1));
}

static void set_status(struct vpci *d, u8 s)
{
    if (d->transport == VPCI_MODERN) common_write(d, COMMON_STATUS, 1, s);
    else legacy_write(d, LEGACY_STATUS, 1, s);
}

static void add_status(struct vpci *d, u8 bits) { set_status(d, (u8)(get_status(d) | bits)); }

/* Linux vp_reset: write 0, then poll until it reads 0. */
static void reset(struct vpci *d)
{
    set_status(d, 0);
    for (int i = 0; i < RESET_POLLS_MAX && get_status(d) != 0; i++) {
    }
    d->nqueues = 0;
}

static u64 read_device_features(struct vpci *d)
{
    if (d->transport == VPCI_LEGACY) return legacy_read(d, LEGACY_HOST_FEATURES, 4);
    common_write(d, COMMON_DFSELECT, 4, 0);
    u64 low = common_read(d, COMMON_DF, 4);
    common_write(d, COMMON_DFSELECT, 4, 1);
    u64 high = common_read(d, COMMON_DF, 4);
    return low | (high << 32);
}

static void write_driver_features(struct vpci *d, u64 f)
{
    if (d->transport == VPCI_LEGACY) {
        legacy_write(d, LEGACY_GUEST_FEATURES, 4, (u32)f);
        return;
    }
    common_write(d, COMMON_GFSELECT, 4, 0);
    common_write(d, COMMON_GF, 4, (u32)f);
    common_write(d, COMMON_GFSELECT, 4, 1);
    common_write(d, COMMON_GF, 4, (u32)(f >> 32));
}

bool vpci_negotiate(struct vpci *d, u64 supported)
{
    reset(d);
    add_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
    add_status(d, VIRTIO_STATUS_DRIVER);
    d->device_features = read_device_features(d);
    u64 version1 = 1ull << VIRTIO_F_VERSION_1;
    if (d->transport == VPCI_MODERN) {
        if ((d->device_features & version1) == 0) {
            add_status(d, VIRTIO_STATUS_FAILED);
            return false;
        }
        supported |= version1;
    } else {
        supported &= 0xFFFFFFFFull;
    }
    d->negotiated = d->device_features & supported;
    write_driver_features(d, d->negotiated);
    if ((d->negotiated & version1) != 0) {
        add_status(d, VIRTIO_STATUS_FEATURES_OK);
        if ((get_status(d) & VIRTIO_STATUS_FEATURES_OK) == 0) {
            add_status(d, VIRTIO_STATUS_FAILED);
            return false;
        }
    }
    return true;
}

bool vpci_has_feature(const struct vpci *d, int bit) { return bit >= 0 && bit < 64 && (d->negotiated & (1ull << bit)) != 0; }

void vpci_driver_ok(struct vpci *d) { add_status(d, VIRTIO_STATUS_DRIVER_OK); }

u32 vpci_intx_gsi(const struct vpci *d) { return d->pci.interrupt_line; }

static u16 write_config_vector(struct vpci *d, u16 vector)
{
    if (d->transport == VPCI_MODERN) {
        common_write(d, COMMON_MSIX_CONFIG, 2, vector);
        return (u16)common_read(d, COMMON_MSIX_CONFIG, 2);
    }
    legacy_write(d, LEGACY_CONFIG_VECTOR, 2, vector);
    return (u16)legacy_read(d, LEGACY_CONFIG_VECTOR, 2);
}

/* INTx: the firmware's line, level-triggered (ELCR), unmasked when the driver requests it (request_irq). */
static void enable_intx(struct vpci *d)
{
    u32 gsi = vpci_intx_gsi(d);
    if (gsi >= 16) return;
    rt_pic_set_level(gsi);
    rt_pic_unmask(gsi);
}

void vpci_setup_interrupts(struct vpci *d, int queue_count)
{
    if (queue_count < 0 || queue_count > VPCI_QUEUES_MAX) rt_panic("vpci_setup_interrupts: queue count");
    if (d->irq != VPCI_MSIX) {
        enable_intx(d);
        return;
    }
    int used = d->msix_table_size < 1 + queue_count ? d->msix_table_size : 1 + queue_count;
    if (used > MSIX_VECTORS_USED_MAX) used = MSIX_VECTORS_USED_MAX;
    if (used < 2) used = 2;
    d->msix_vectors_used = used;
    int control = d->msix_cap + MSIX_CONTROL;
    u16 ctl = (u16)pci_config_read(d->pci.slot, control, 2);
    pci_config_write(d->pci.slot, control, 2, ctl | MSIX_ENABLE | MSIX_FUNCTION_MASK);
    for (int v = 0; v < used; v++) {
        u32 entry = d->msix_table + (u32)v * MSIX_ENTRY_SIZE;
        mmio_write32(entry, MSI_ADDRESS);
        mmio_write32(entry + 4, 0);
        mmio_write32(entry + 8, RT_VECTOR_BASE + VPCI_MSIX_GSI_BASE + (u32)v); /* data: vector 0x20 + GSI */
        mmio_write32(entry + 12, 0);                                            /* vector control: unmasked */
    }
    pci_config_write(d->pci.slot, control, 2, (u16)((ctl | MSIX_ENABLE) & ~MSIX_FUNCTION_MASK));
    d->msix_enabled = true;
    if (write_config_vector(d, 0) == VIRTIO_MSI_NO_VECTOR) {
        u16 c = (u16)pci_config_read(d->pci.slot, control, 2);
        pci_config_write(d->pci.slot, control, 2, c & (u16)~MSIX_ENABLE);
        d->msix_enabled = false;
        d->irq = VPCI_INTX;
        enable_intx(d);
    }
}

static void write_two_part(struct vpci *d, int off, u64 v)
{
    common_write(d, off, 4, (u32)v);
    common_write(d, off + 4, 4, (u32)(v >> 32));
}

static bool valid_queue_size(u32 size) { return size > 0 && size <= 32768 && (size & (size - 1)) == 0; }

bool vpci_setup_queue(struct vpci *d, struct vqueue *q, int index, struct dma *dma, int size_max)
{
    if (index < 0 || index >= VPCI_QUEUES_MAX || d->nqueues >= VPCI_QUEUES_MAX) rt_panic("vpci_setup_queue: index");
    memset(q, 0, sizeof *q);
    q->dev = d;
    q->index = index;
    u16 vector = VIRTIO_MSI_NO_VECTOR;
    if (d->irq == VPCI_MSIX && d->msix_enabled) {
        int v = 1 + d->nqueues;
        vector = (u16)(v < d->msix_vectors_used - 1 ? v : d->msix_vectors_used - 1);
    }
    bool event_idx = vpci_has_feature(d, VIRTIO_F_EVENT_IDX);
    if (d->transport == VPCI_MODERN) {
        common_write(d, COMMON_Q_SELECT, 2, (u32)index);
        u32 size = common_read(d, COMMON_Q_SIZE, 2);
        if (size == 0 || !valid_queue_size(size) || common_read(d, COMMON_Q_ENABLE, 2) != 0) return false;
        if (size_max > 0 && (u32)size_max < size && valid_queue_size((u32)size_max)) {
            size = (u32)size_max;
            common_write(d, COMMON_Q_SIZE, 2, size);
        }
        if (size > VQ_SIZE_MAX) rt_panic("vpci_setup_queue: queue larger than VQ_SIZE_MAX");
        /* SplitRingLayout.Modern: desc (16-aligned), avail (2), used (4), packed; allocated with 16 bytes slack. */
        u32 desc_bytes = 16 * size, avail_bytes = 6 + 2 * size, used_bytes = 6 + 8 * size;
        u32 total = desc_bytes + ((avail_bytes + 3) & ~3u) + used_bytes; /* avail starts 16-aligned after desc */
        u32 desc = dma_alloc(dma, total + 16, 16);
        u32 avail = desc + desc_bytes;
        u32 used = (avail + avail_bytes + 3) & ~3u;
        virtq_init(&q->ring, (int)size, event_idx, desc, avail, used);
        write_two_part(d, COMMON_Q_DESC, desc);
        write_two_part(d, COMMON_Q_DRIVER, avail);
        write_two_part(d, COMMON_Q_DEVICE, used);
        u32 notify_off = common_read(d, COMMON_Q_NOFF, 2);
        if (vector != VIRTIO_MSI_NO_VECTOR) {
            common_write(d, COMMON_Q_MSIX, 2, vector);
            if (common_read(d, COMMON_Q_MSIX, 2) == VIRTIO_MSI_NO_VECTOR) return false;
        }
        common_write(d, COMMON_Q_ENABLE, 2, 1);
        q->notify_address = d->notify + notify_off * d->notify_multiplier;
    } else {
        legacy_write(d, LEGACY_QUEUE_SEL, 2, (u32)index);
        u32 size = legacy_read(d, LEGACY_QUEUE_NUM, 2);
        if (size == 0 || !valid_queue_size(size) || legacy_read(d, LEGACY_QUEUE_PFN, 4) != 0) return false;
        if (size > VQ_SIZE_MAX) rt_panic("vpci_setup_queue: queue larger than VQ_SIZE_MAX");
        /* SplitRingLayout.Legacy (§2.7.2): desc, avail right after, used at the next 4096 boundary. */
        u32 avail_off = 16 * size;
        u32 used_off = (avail_off + 6 + 2 * size + LEGACY_QUEUE_ALIGN - 1) & ~(LEGACY_QUEUE_ALIGN - 1);
        u32 start = dma_alloc(dma, used_off + 6 + 8 * size, LEGACY_QUEUE_ALIGN);
        virtq_init(&q->ring, (int)size, event_idx, start, start + avail_off, start + used_off);
        legacy_write(d, LEGACY_QUEUE_PFN, 4, start >> 12);
        if (vector != VIRTIO_MSI_NO_VECTOR) {
            legacy_write(d, LEGACY_QUEUE_VECTOR, 2, vector);
            if (legacy_read(d, LEGACY_QUEUE_VECTOR, 2) == VIRTIO_MSI_NO_VECTOR) return false;
        }
        q->notify_address = (u32)d->io_base + LEGACY_QUEUE_NOTIFY;
    }
    q->vector = vector;
    d->queues[d->nqueues++] = q;
    return true;
}

void vq_notify(struct vqueue *q)
{
    q->notifies++;
    if (q->dev->transport == VPCI_MODERN) mmio_write16(q->notify_address, (u16)q->index);
    else outw((u16)q->notify_address, (u16)q->index);
}

bool vq_kick(struct vqueue *q)
{
    if (!virtq_needs_notify(&q->ring)) {
        q->notifies_suppressed++;
        return false;
    }
    vq_notify(q);
    return true;
}

int vq_drain_used(struct vqueue *q, void (*on_used)(struct vqueue *q, u16 head, u32 len))
{
    int reaped = 0;
    int rounds_max = 2 * q->ring.size + 2;
    for (int round = 0; round < rounds_max; round++) {
        virtq_disable_cb(&q->ring);
        u16 head;
        u32 len;
        for (int n = 0; n < q->ring.size && virtq_get_used(&q->ring, &head, &len); n++) {
            reaped++;
            on_used(q, head, len);
        }
        if (virtq_broken(&q->ring)) break;
        if (virtq_enable_cb(&q->ring)) break;
    }
    return reaped;
}

u8 vpci_read_isr(struct vpci *d)
{
    return (u8)(d->transport == VPCI_MODERN ? mmio_read8(d->isr) : legacy_read(d, LEGACY_ISR, 1));
}

bool vpci_handle_interrupt(struct vpci *d, u32 gsi)
{
    bool mine = false;
    if (d->irq == VPCI_MSIX && d->msix_enabled) {
        if (gsi < VPCI_MSIX_GSI_BASE || gsi >= VPCI_MSIX_GSI_BASE + (u32)d->msix_vectors_used) return false;
        u16 vector = (u16)(gsi - VPCI_MSIX_GSI_BASE);
        if (vector == 0) {
            mine = true;
            if (d->config_changed) d->config_changed(d);
        }
        for (int i = 0; i < d->nqueues; i++) {
            if (d->queues[i]->vector != vector) continue;
            mine = true;
            if (d->queues[i]->callback) d->queues[i]->callback(d->queues[i]);
        }
    } else {
        if (gsi != vpci_intx_gsi(d)) return false;
        u8 isr = vpci_read_isr(d);
        if (isr & ISR_QUEUE) {
            for (int i = 0; i < d->nqueues; i++) {
                if (d->queues[i]->callback) d->queues[i]->callback(d->queues[i]);
            }
        }
        if ((isr & ISR_CONFIG) && d->config_changed) d->config_changed(d);
        mine = isr != 0;
    }
    if (mine) d->interrupts_handled++;
    return mine;
}

u64 vpci_read_device_config(struct vpci *d, int offset, int size)
{
    if (d->transport == VPCI_MODERN) {
        u32 a = d->device + (u32)offset;
        if (size == 8) return mmio_read64(a);
        return size == 1 ? mmio_read8(a) : size == 2 ? mmio_read16(a) : mmio_read32(a);
    }
    /* x86 has no 8-byte port access: two 4-byte reads, low then high (the simulated driver's one 8-byte PioIn
     * cannot exist on a real CPU). */
    int off = (d->msix_enabled ? LEGACY_CONFIG_MSIX : LEGACY_CONFIG_NO_MSIX) + offset;
    if (size == 8) return (u64)legacy_read(d, off, 4) | ((u64)legacy_read(d, off + 4, 4) << 32);
    return legacy_read(d, off, size);
}
