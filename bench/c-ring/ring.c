/*
 * The C baseline of `virtsim bench ring` (issue 3, issue 13 section 5): the same workload written as a tight,
 * validated C loop, to say what the split-ring work itself costs on this machine. Each request is a 2-descriptor
 * chain (an 8-byte readable request, an 8-byte writable response) on a 256-entry split ring (VIRTIO 1.2 section 2.7)
 * in one flat guest memory. Per kick, as in src/Sim.Scenarios/Bench/RingBenchmark.cs:
 *   driver (Linux virtio_ring.c, split): write each request, add its chain from the free list and put the head in
 *     the available ring; publish avail.idx; kick decision (VIRTQ_USED_F_NO_NOTIFY, or avail_event with EVENT_IDX);
 *   device (QEMU virtqueue_split_pop, bounds-checked): read avail.idx (distance check), the head (range check), walk
 *     the chain checking INDIRECT, readable-before-writable, zero length, the buffer inside guest memory and the loop
 *     bound; read the request, write the response, fill the used entry; flush used.idx; interrupt decision;
 *   driver interrupt handler: callbacks off, reap every used entry (used.idx distance, id range, id outstanding,
 *     free-list return, used_event), check response and used.len, callbacks on with the "more used?" re-check.
 * Dirty pages: the simulator marks every page its ring code writes dirty (snapshots and traces need them). With
 * dirty = 1 this loop does too (a bitmap bit per 4 KiB page, stored only when clear, as GuestMemory.SetDirtyBit);
 * with dirty = 0 (the default) it does not: the strict baseline.
 * Build: cc -O2 -o ring bench/c-ring/ring.c   Run: ./ring [requests] [event_idx 0|1] [batch, 0 = all] [dirty 0|1]
 * Prints one line per batch size (1..128, or the one given) with wall and CPU (CLOCK_PROCESS_CPUTIME_ID) ns per
 * request, in the format of `virtsim bench ring`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QSIZE 256u
#define SLOTS (QSIZE / 2)
#define MEM_BYTES 0x200000u
#define RING_BASE 0x1000u
#define BUF_BASE 0x100000u
#define MAGIC 0x5a5a000000000001ull

#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define USED_F_NO_NOTIFY 1
#define AVAIL_F_NO_INTERRUPT 1

#define BARRIER() __asm__ __volatile__("" ::: "memory")
#define NOINLINE __attribute__((noinline))

struct desc { uint64_t addr; uint32_t len; uint16_t flags; uint16_t next; };

static uint8_t *mem;
static struct desc *desc_table;
static uint16_t *avail; /* flags, idx, ring[QSIZE], used_event */
static uint8_t *used;   /* flags, idx, ring[QSIZE] of {id, len}, avail_event */
static int event_idx;
static int dirty_tracking;
static uint64_t dirty_bits[MEM_BYTES / 4096 / 64];

/* Marks the pages of a guest write dirty (the simulator's GuestMemory.MarkRange). */
static inline void mark(const void *p, unsigned len) {
	if (!dirty_tracking) return;
	size_t at = (size_t)((const uint8_t *)p - mem);
	for (size_t page = at / 4096; page <= (at + len - 1) / 4096; page++) {
		uint64_t bit = 1ull << (page & 63);
		if (!(dirty_bits[page >> 6] & bit)) dirty_bits[page >> 6] |= bit;
	}
}

static inline uint16_t *used_flags(void) { return (uint16_t *)used; }
static inline uint16_t *used_idx(void) { return (uint16_t *)(used + 2); }
static inline uint64_t *used_elem(unsigned slot) { return (uint64_t *)(used + 4 + 8 * slot); }
static inline uint16_t *avail_event(void) { return (uint16_t *)(used + 4 + 8 * QSIZE); }
static inline uint16_t *used_event(void) { return &avail[2 + QSIZE]; }
static inline int need_event(uint16_t ev, uint16_t new_idx, uint16_t old) {
	return (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old);
}

/* ---------------------------------------------------------------- driver */
static uint16_t next_link[QSIZE];
static struct { uint32_t wlen; uint16_t last, count; } head_state[QSIZE];
static unsigned free_head, num_free, outstanding;
static uint16_t avail_shadow, num_added, last_used, avail_flags_shadow;
static uint16_t slot_of_head[QSIZE];
static uint64_t sequence;
static long mismatches, kicks, interrupts;

static NOINLINE void driver_add(int n) {
	for (int k = 0; k < n; k++) {
		unsigned slot = (unsigned)((sequence + k) & (SLOTS - 1));
		uint64_t at = BUF_BASE + 16ull * slot;
		*(uint64_t *)(mem + at) = sequence + k;
		mark(mem + at, 8);
		if (num_free < 2) abort();
		unsigned first = free_head, second = next_link[first], rest = next_link[second];
		desc_table[first] = (struct desc){ at, 8, F_NEXT, (uint16_t)second };
		desc_table[second] = (struct desc){ at + 8, 8, F_WRITE, (uint16_t)rest };
		mark(&desc_table[first], 16);
		mark(&desc_table[second], 16);
		free_head = rest;
		num_free -= 2;
		head_state[first].wlen = 8; head_state[first].last = (uint16_t)second; head_state[first].count = 2;
		outstanding++;
		avail[2 + (avail_shadow & (QSIZE - 1))] = (uint16_t)first;
		mark(&avail[2 + (avail_shadow & (QSIZE - 1))], 2);
		avail_shadow++;
		num_added++;
		slot_of_head[first] = (uint16_t)slot;
	}
	sequence += n;
}

static NOINLINE int driver_kick_prepare(void) {
	avail[1] = avail_shadow; /* publish avail.idx */
	mark(&avail[1], 2);
	uint16_t new_idx = avail_shadow, old = (uint16_t)(avail_shadow - num_added);
	num_added = 0;
	if (event_idx) return need_event(*avail_event(), new_idx, old);
	return !(*used_flags() & USED_F_NO_NOTIFY);
}

/* ---------------------------------------------------------------- device */
static uint16_t last_avail, shadow_avail, dev_used_idx, signalled_used;
static int signalled_valid, in_use;

/* Pops one chain: 0 empty, 1 popped (out/in buffer in *o / *i), -1 guest error. */
static inline int device_pop(uint64_t *oaddr, uint32_t *olen, uint64_t *iaddr, uint32_t *ilen, uint16_t *head_out) {
	if (shadow_avail == last_avail) {
		uint16_t idx = avail[1];
		if ((uint16_t)(idx - last_avail) > QSIZE) return -1;
		shadow_avail = idx;
		if (idx == last_avail) return 0;
	}
	if (in_use >= (int)QSIZE) return -1;
	uint16_t head = avail[2 + (last_avail & (QSIZE - 1))];
	last_avail++;
	if (head >= QSIZE) return -1;
	if (event_idx) { *avail_event() = last_avail; mark(avail_event(), 2); }
	unsigned idx = head, n = 0, outs = 0, ins = 0;
	int saw_write = 0;
	for (;;) {
		struct desc d = desc_table[idx];
		if (d.flags & F_INDIRECT) return -1;
		if (d.flags & F_WRITE) saw_write = 1; else if (saw_write) return -1;
		if (d.len == 0) return -1;
		if (d.addr >= MEM_BYTES || d.len > MEM_BYTES - d.addr) return -1;
		if (++n > QSIZE) return -1;
		if (d.flags & F_WRITE) { if (ins++ == 0) { *iaddr = d.addr; *ilen = d.len; } }
		else { if (outs++ == 0) { *oaddr = d.addr; *olen = d.len; } }
		if (!(d.flags & F_NEXT)) break;
		idx = d.next;
		if (idx >= QSIZE) return -1;
	}
	if (outs == 0 || ins == 0) return -1;
	in_use++;
	*head_out = head;
	return 1;
}

static NOINLINE void device_kick(void) {
	uint64_t oa = 0, ia = 0; uint32_t ol = 0, il = 0; uint16_t head = 0;
	int filled = 0, r;
	while ((r = device_pop(&oa, &ol, &ia, &il, &head)) == 1) {
		uint32_t written = 0;
		if (ol >= 8 && il >= 8) {
			uint64_t request = *(uint64_t *)(mem + oa);
			*(uint64_t *)(mem + ia) = request ^ MAGIC;
			mark(mem + ia, 8);
			written = 8;
		}
		*used_elem((uint16_t)(dev_used_idx + filled) & (QSIZE - 1)) = head | ((uint64_t)written << 32);
		mark(used_elem((uint16_t)(dev_used_idx + filled) & (QSIZE - 1)), 8);
		filled++;
	}
	if (r < 0) abort();
	/* flush */
	uint16_t old = dev_used_idx;
	dev_used_idx = (uint16_t)(dev_used_idx + filled);
	*used_idx() = dev_used_idx;
	mark(used_idx(), 2);
	in_use -= filled;
	if ((uint16_t)(dev_used_idx - signalled_used) < (uint16_t)(dev_used_idx - old)) signalled_valid = 0;
	/* should notify */
	int notify;
	if (!event_idx) {
		notify = !(avail[0] & AVAIL_F_NO_INTERRUPT);
	} else {
		int valid = signalled_valid;
		uint16_t prev = signalled_used;
		signalled_valid = 1;
		signalled_used = dev_used_idx;
		notify = !valid || need_event(*used_event(), dev_used_idx, prev);
	}
	interrupts += notify;
}

/* ---------------------------------------------------------------- driver interrupt handler */
static uint16_t used_shadow;

static inline int driver_get_used(void) {
	if (last_used == used_shadow) {
		uint16_t idx = *used_idx();
		if ((uint16_t)(idx - last_used) > outstanding) abort();
		used_shadow = idx;
		if (last_used == used_shadow) return 0;
	}
	uint64_t raw = *used_elem(last_used & (QSIZE - 1));
	uint32_t id = (uint32_t)raw, len = (uint32_t)(raw >> 32);
	if (id >= QSIZE || head_state[id].count == 0) abort();
	next_link[head_state[id].last] = (uint16_t)free_head;
	free_head = id;
	num_free += head_state[id].count;
	head_state[id].count = 0;
	outstanding--;
	last_used++;
	if (!(avail_flags_shadow & AVAIL_F_NO_INTERRUPT)) { *used_event() = last_used; mark(used_event(), 2); }
	const uint8_t *pair = mem + BUF_BASE + 16u * slot_of_head[id];
	uint64_t request = *(const uint64_t *)pair, response = *(const uint64_t *)(pair + 8);
	mismatches += ((response ^ request ^ MAGIC) | (len ^ 8)) != 0;
	return 1;
}

static NOINLINE int driver_interrupt(void) {
	int reaped = 0;
	/* virtqueue_disable_cb */
	if (!(avail_flags_shadow & AVAIL_F_NO_INTERRUPT)) {
		avail_flags_shadow |= AVAIL_F_NO_INTERRUPT;
		if (event_idx) { *used_event() = 0; mark(used_event(), 2); } else { avail[0] = avail_flags_shadow; mark(&avail[0], 2); }
	}
	for (;;) {
		while (driver_get_used()) reaped++;
		/* virtqueue_enable_cb: clear NO_INTERRUPT, used_event = last_used, re-check used.idx */
		if (avail_flags_shadow & AVAIL_F_NO_INTERRUPT) {
			avail_flags_shadow &= (uint16_t)~AVAIL_F_NO_INTERRUPT;
			if (!event_idx) { avail[0] = avail_flags_shadow; mark(&avail[0], 2); }
		}
		*used_event() = last_used;
		mark(used_event(), 2);
		BARRIER();
		if (last_used == *used_idx()) break;
	}
	return reaped;
}

static void setup(void) {
	mem = aligned_alloc(4096, MEM_BYTES);
	memset(mem, 0, MEM_BYTES);
	desc_table = (struct desc *)(mem + RING_BASE);
	avail = (uint16_t *)(mem + RING_BASE + 16 * QSIZE);
	/* modern layout: used ring 4-aligned after the available ring (6 + 2 * QSIZE bytes) */
	used = mem + ((RING_BASE + 16 * QSIZE + 6 + 2 * QSIZE + 3) & ~3u);
	for (unsigned i = 0; i < QSIZE; i++) next_link[i] = (uint16_t)((i + 1) & (QSIZE - 1));
	free_head = 0; num_free = QSIZE;
}

static void run(long requests, int batch) {
	long done = 0;
	while (done < requests) {
		long n = requests - done < batch ? requests - done : batch;
		if (n > SLOTS) n = SLOTS;
		driver_add((int)n);
		kicks += driver_kick_prepare();
		BARRIER();
		device_kick();
		BARRIER();
		done += driver_interrupt();
	}
}

static double now(clockid_t clock) {
	struct timespec t;
	clock_gettime(clock, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
	long requests = argc > 1 ? atol(argv[1]) : 20000000;
	event_idx = argc > 2 ? atoi(argv[2]) : 0;
	setup();
	static const int batches[] = { 1, 2, 4, 8, 16, 32, 64, 128 };
	int only = argc > 3 ? atoi(argv[3]) : 0;
	dirty_tracking = argc > 4 ? atoi(argv[4]) : 0;
	for (unsigned b = 0; b < sizeof batches / sizeof batches[0]; b++) {
		if (only > 0 && batches[b] != only) continue;
		run(200000, batches[b]);
		double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
		run(requests, batches[b]);
		double w1 = now(CLOCK_MONOTONIC), c1 = now(CLOCK_PROCESS_CPUTIME_ID);
		printf("c-ring: requests=%ld batch=%d event_idx=%d dirty=%d mismatches=%ld cpu_ns_per_req=%.2f ns_per_request=%.2f\n",
		       requests, batches[b], event_idx, dirty_tracking, mismatches, (c1 - c0) / requests, (w1 - w0) / requests);
	}
	return mismatches != 0;
}
