/* Virtio split ring (driver side) and the virtio-pci transport driver, modern and legacy: the same register
 * sequences as src/Sim.Guest/Drivers/VirtioPciDriver.cs and Sim.Guest/Virtio/DriverQueue.cs (which follow Linux
 * drivers/virtio/virtio_ring.c, virtio_pci_modern.c, virtio_pci_legacy.c and virtio_pci_common.c). */
#ifndef VIRTIO_H
#define VIRTIO_H
#include "pci.h"

/* VIRTIO 1.2 §2.1 device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_FAILED 128
/* VIRTIO 1.2 §6 reserved feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
/* VIRTIO 1.2 §2.7.5 descriptor flags, §2.7.6/§2.7.8 ring flags. */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1
#define VIRTIO_MSI_NO_VECTOR 0xFFFF
#define VIRTIO_PCI_VENDOR 0x1AF4
#define VIRTIO_PCI_MODERN_ID_BASE 0x1040

/* The guest's DMA memory (GuestDmaAllocator over a window; docs/recording.md §2 gives the KVM guests'
 * window: [2 MiB, 3 MiB), the simulated guests' [1 MiB, 2 MiB) holding the image here). */
#define DMA_WINDOW_BASE 0x200000u
#define DMA_WINDOW_BYTES 0x100000u
struct dma { u32 next, end; };
void dma_init(struct dma *d, u32 base, u32 bytes);
u32 dma_alloc(struct dma *d, u32 length, u32 align); /* panics when exhausted (the guest sized its window) */

/* ---------------------------------------------------------------- split ring */
#define VQ_SIZE_MAX 256
struct vq_buf { u32 addr; u32 len; };
struct virtq_desc { u64 addr; u32 len; u16 flags; u16 next; } __attribute__((packed));
enum vq_error { VQ_OK = 0, VQ_USED_IDX_TOO_FAR, VQ_USED_ID_OUT_OF_RANGE, VQ_USED_ID_NOT_HEAD };

struct virtq {
    int size;
    bool event_idx;
    u32 desc, avail, used; /* ring part addresses */
    u16 next[VQ_SIZE_MAX];
    struct { u32 writable; u16 last, length; } heads[VQ_SIZE_MAX];
    int free_head, num_free, outstanding, num_added;
    u16 avail_shadow, published, last_used, used_shadow, avail_flags_shadow;
    enum vq_error error;
};
void virtq_init(struct virtq *q, int size, bool event_idx, u32 desc, u32 avail, u32 used); /* zeroes the rings */
bool virtq_add(struct virtq *q, const struct vq_buf *out, int nout, const struct vq_buf *in, int nin, u16 *head);
/* VIRTIO 1.2 §2.7.5.3: the chain written into the caller's table (16 bytes per buffer), one ring descriptor. */
bool virtq_add_indirect(struct virtq *q, const struct vq_buf *out, int nout, const struct vq_buf *in, int nin, u32 table, u16 *head);
bool virtq_needs_notify(struct virtq *q); /* publishes, then virtqueue_kick_prepare */
bool virtq_has_used(struct virtq *q);
bool virtq_get_used(struct virtq *q, u16 *id, u32 *len);
void virtq_disable_cb(struct virtq *q);
bool virtq_enable_cb(struct virtq *q); /* true: nothing new used, safe to wait */
static inline bool virtq_broken(const struct virtq *q) { return q->error != VQ_OK; }

/* ---------------------------------------------------------------- virtio-pci transport */
enum vpci_transport { VPCI_MODERN = 0, VPCI_LEGACY = 1 };
enum vpci_irq { VPCI_MSIX = 0, VPCI_INTX = 1 };
#define VPCI_QUEUES_MAX 4
#define VPCI_MSIX_GSI_BASE 24 /* VirtioPciDriver.MsixGsiBaseDefault: above the 24 IOAPIC pins */

struct vpci;
struct vqueue {
    struct vpci *dev;
    int index;
    u32 notify_address; /* modern: MMIO address; legacy: the QUEUE_NOTIFY port */
    u16 vector;
    void (*callback)(struct vqueue *q);
    u32 notifies, notifies_suppressed;
    struct virtq ring;
};

struct vpci {
    struct pci_function pci;
    enum vpci_transport transport;
    enum vpci_irq irq;
    u16 virtio_id;
    u32 common, isr, device, notify, notify_multiplier;
    u16 io_base;
    int msix_cap, msix_table_size, msix_vectors_used;
    u32 msix_table;
    bool msix_enabled;
    u64 device_features, negotiated;
    struct vqueue *queues[VPCI_QUEUES_MAX];
    int nqueues;
    void (*config_changed)(struct vpci *d);
    u32 interrupts_handled;
};

/* VirtioPciDriver.FindDevice: the first virtio function with this device id, enumerated; false when none. */
bool vpci_find_device(u16 virtio_id, struct pci_windows *w, struct pci_function *out);
/* VirtioPciDriver.Probe: enable, locate the interface (capabilities or I/O BAR 0), MSI-X. False when absent. */
bool vpci_probe(struct vpci *d, const struct pci_function *pci, enum vpci_transport t, enum vpci_irq irq);
bool vpci_negotiate(struct vpci *d, u64 supported); /* §3.1.1 steps 1-6 */
bool vpci_has_feature(const struct vpci *d, int bit);
void vpci_setup_interrupts(struct vpci *d, int queue_count);
/* Linux setup_vq; size_max 0: the device's size (modern may shrink it). False when refused. */
bool vpci_setup_queue(struct vpci *d, struct vqueue *q, int index, struct dma *dma, int size_max);
void vpci_driver_ok(struct vpci *d);
bool vpci_handle_interrupt(struct vpci *d, u32 gsi); /* true when it was this device's */
u8 vpci_read_isr(struct vpci *d);
u64 vpci_read_device_config(struct vpci *d, int offset, int size);
u32 vpci_intx_gsi(const struct vpci *d);
bool vq_kick(struct vqueue *q);   /* notifies only when the device wants it; true when notified */
void vq_notify(struct vqueue *q); /* unconditional */
/* VirtioDriverQueue.DrainUsed: do { disable_cb; while (get_buf) on_used; } while (!enable_cb). Returns how many. */
int vq_drain_used(struct vqueue *q, void (*on_used)(struct vqueue *q, u16 head, u32 len));
#endif
