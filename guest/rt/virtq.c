/* Driver side of a split virtqueue (Sim.Guest/Virtio/DriverQueue.cs; Linux virtio_ring.c, split ring). Guest
 * memory is identity-mapped, so ring parts are accessed through pointers; the device may run concurrently
 * (vhost worker thread, KVM host thread), hence volatile accesses and the barriers VIRTIO 1.2 §2.7.13 asks for. */
#include "virtio.h"

#define AVAIL_FLAGS(q) ((volatile u16 *)((q)->avail + 0))
#define AVAIL_IDX(q) ((volatile u16 *)((q)->avail + 2))
#define AVAIL_RING(q, i) ((volatile u16 *)((q)->avail + 4 + 2u * (u32)(i)))
#define USED_EVENT(q) ((volatile u16 *)((q)->avail + 4 + 2u * (u32)(q)->size))
#define USED_FLAGS(q) ((volatile u16 *)((q)->used + 0))
#define USED_IDX(q) ((volatile u16 *)((q)->used + 2))
#define USED_ELEM(q, i) ((volatile u32 *)((q)->used + 4 + 8u * (u32)(i)))
#define AVAIL_EVENT(q) ((volatile u16 *)((q)->used + 4 + 8u * (u32)(q)->size))
#define DESC(q, i) ((volatile struct virtq_desc *)((q)->desc + 16u * (u32)(i)))

void virtq_init(struct virtq *q, int size, bool event_idx, u32 desc, u32 avail, u32 used)
{
    if (size <= 0 || size > VQ_SIZE_MAX || (size & (size - 1)) != 0) rt_panic("virtq_init: queue size");
    q->size = size;
    q->event_idx = event_idx;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    /* vring_create_virtqueue: the rings start zeroed. */
    memset((void *)desc, 0, 16u * (u32)size);
    memset((void *)avail, 0, 6u + 2u * (u32)size);
    memset((void *)used, 0, 6u + 8u * (u32)size);
    for (int i = 0; i < size; i++) {
        q->next[i] = (u16)((i + 1) & (size - 1));
        q->heads[i].writable = 0;
        q->heads[i].last = 0;
        q->heads[i].length = 0;
    }
    q->free_head = 0;
    q->num_free = size;
    q->outstanding = 0;
    q->num_added = 0;
    q->avail_shadow = q->published = q->last_used = q->used_shadow = q->avail_flags_shadow = 0;
    q->error = VQ_OK;
}

static void write_desc(u32 at, u32 addr, u32 len, u16 flags, u16 next)
{
    volatile struct virtq_desc *d = (volatile struct virtq_desc *)at;
    d->addr = addr;
    d->len = len;
    d->flags = flags;
    d->next = next;
}

/* Records the head's state and fills the next available slot; avail.idx is written by publish. */
static void commit(struct virtq *q, u16 head, u32 writable, u16 last, u16 length)
{
    q->heads[head].writable = writable;
    q->heads[head].last = last;
    q->heads[head].length = length;
    q->outstanding++;
    *AVAIL_RING(q, q->avail_shadow & (q->size - 1)) = head;
    q->avail_shadow++;
    q->num_added++;
}

bool virtq_add(struct virtq *q, const struct vq_buf *out, int nout, const struct vq_buf *in, int nin, u16 *head)
{
    int total = nout + nin;
    if (total <= 0) rt_panic("virtq_add: empty chain");
    if (virtq_broken(q) || total > q->num_free) return false;
    int first = q->free_head, i = first, last = first;
    u32 writable = 0;
    for (int k = 0; k < total; k++) {
        bool w = k >= nout;
        const struct vq_buf *b = w ? &in[k - nout] : &out[k];
        u16 next = q->next[i];
        u16 flags = (u16)((w ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < total ? VIRTQ_DESC_F_NEXT : 0));
        if (w) writable += b->len;
        write_desc(q->desc + 16u * (u32)i, b->addr, b->len, flags, next);
        last = i;
        i = next;
    }
    q->free_head = i;
    q->num_free -= total;
    *head = (u16)first;
    commit(q, (u16)first, writable, (u16)last, (u16)total);
    return true;
}

bool virtq_add_indirect(struct virtq *q, const struct vq_buf *out, int nout, const struct vq_buf *in, int nin, u32 table, u16 *head)
{
    int total = nout + nin;
    if (total <= 0) rt_panic("virtq_add_indirect: empty chain");
    if (virtq_broken(q) || q->num_free < 1) return false;
    u32 writable = 0;
    for (int k = 0; k < total; k++) {
        bool w = k >= nout;
        const struct vq_buf *b = w ? &in[k - nout] : &out[k];
        u16 flags = (u16)((w ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < total ? VIRTQ_DESC_F_NEXT : 0));
        if (w) writable += b->len;
        write_desc(table + 16u * (u32)k, b->addr, b->len, flags, (u16)(k + 1 < total ? k + 1 : 0));
    }
    int i = q->free_head;
    write_desc(q->desc + 16u * (u32)i, table, 16u * (u32)total, VIRTQ_DESC_F_INDIRECT, q->next[i]);
    q->free_head = q->next[i];
    q->num_free--;
    *head = (u16)i;
    commit(q, (u16)i, writable, (u16)i, 1);
    return true;
}

/* Makes every added chain visible: the ring entries before avail.idx (§2.7.13.2: a write barrier). */
static void publish(struct virtq *q)
{
    if (q->published == q->avail_shadow) return;
    wmb();
    *AVAIL_IDX(q) = q->avail_shadow;
    q->published = q->avail_shadow;
}

/* VIRTIO 1.2 §2.7.10 vring_need_event. */
static bool need_event(u16 event, u16 new_idx, u16 old_idx) { return (u16)(new_idx - event - 1) < (u16)(new_idx - old_idx); }

bool virtq_needs_notify(struct virtq *q)
{
    publish(q);
    u16 new_idx = q->avail_shadow;
    u16 old_idx = (u16)(q->avail_shadow - q->num_added);
    q->num_added = 0;
    mb(); /* virtqueue_kick_prepare_split: the index store before reading the device's suppression field */
    if (q->event_idx) return need_event(*AVAIL_EVENT(q), new_idx, old_idx);
    return (*USED_FLAGS(q) & VIRTQ_USED_F_NO_NOTIFY) == 0;
}

static bool breaks(struct virtq *q, enum vq_error e)
{
    q->error = e;
    return false;
}

static bool refresh_used_idx(struct virtq *q)
{
    u16 used_idx = *USED_IDX(q);
    if ((u16)(used_idx - q->last_used) > q->outstanding) return breaks(q, VQ_USED_IDX_TOO_FAR);
    q->used_shadow = used_idx;
    return true;
}

bool virtq_has_used(struct virtq *q)
{
    if (virtq_broken(q)) return false;
    if (q->last_used != q->used_shadow) return true;
    return refresh_used_idx(q) && q->last_used != q->used_shadow;
}

static bool callbacks_enabled(const struct virtq *q) { return (q->avail_flags_shadow & VIRTQ_AVAIL_F_NO_INTERRUPT) == 0; }

bool virtq_get_used(struct virtq *q, u16 *id, u32 *len)
{
    *id = 0;
    *len = 0;
    if (virtq_broken(q)) return false;
    if (q->last_used == q->used_shadow && (!refresh_used_idx(q) || q->last_used == q->used_shadow)) return false;
    rmb(); /* the entry after the index (§2.7.14) */
    u32 slot = q->last_used & (u32)(q->size - 1);
    u32 raw_id = USED_ELEM(q, slot)[0];
    u32 raw_len = USED_ELEM(q, slot)[1];
    if (raw_id >= (u32)q->size) return breaks(q, VQ_USED_ID_OUT_OF_RANGE);
    if (q->heads[raw_id].length == 0) return breaks(q, VQ_USED_ID_NOT_HEAD);
    *id = (u16)raw_id;
    *len = raw_len;
    /* detach_buf_split: the chain back on the free list's head. */
    q->next[q->heads[raw_id].last] = (u16)q->free_head;
    q->free_head = (int)raw_id;
    q->num_free += q->heads[raw_id].length;
    q->heads[raw_id].length = 0;
    q->outstanding--;
    q->last_used++;
    if (callbacks_enabled(q)) *USED_EVENT(q) = q->last_used;
    return true;
}

void virtq_disable_cb(struct virtq *q)
{
    if (!callbacks_enabled(q)) return;
    q->avail_flags_shadow |= VIRTQ_AVAIL_F_NO_INTERRUPT;
    /* With EVENT_IDX Linux writes used_event = 0 ("this is a hack"); suppression is best-effort (§2.7.10). */
    if (q->event_idx) *USED_EVENT(q) = 0;
    else *AVAIL_FLAGS(q) = q->avail_flags_shadow;
}

bool virtq_enable_cb(struct virtq *q)
{
    if (!callbacks_enabled(q)) {
        q->avail_flags_shadow &= (u16)~VIRTQ_AVAIL_F_NO_INTERRUPT;
        if (!q->event_idx) *AVAIL_FLAGS(q) = q->avail_flags_shadow;
    }
    *USED_EVENT(q) = q->last_used;
    mb(); /* virtqueue_poll: used_event before re-reading used.idx */
    return !virtq_has_used(q);
}
