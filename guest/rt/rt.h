/* virtsim guest runtime: what every guest program links with (docs/recording.md §2, guest/README.md). */
#ifndef RT_H
#define RT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef int s32;
typedef unsigned int size_t;
typedef int bool;
#define true 1
#define false 0
#define NULL ((void *)0)

/* ---------------------------------------------------------------- ports, memory, barriers */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory"); }
static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory"); }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory"); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory"); return v; }
static inline u16 inw(u16 port) { u16 v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory"); return v; }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory"); return v; }

/* One MMIO access of exactly the given width (a volatile access through a typed pointer: one instruction). */
static inline u8 mmio_read8(u32 a) { return *(volatile u8 *)a; }
static inline u16 mmio_read16(u32 a) { return *(volatile u16 *)a; }
static inline u32 mmio_read32(u32 a) { return *(volatile u32 *)a; }
/* One 8-byte MMIO access (MMX movq: a 32-bit guest's only plain 8-byte load; the simulated drivers' 8-byte
 * MmioRead is one access too). */
static inline u64 mmio_read64(u32 a)
{
    u64 v;
    __asm__ volatile("movq (%1), %%mm0\n\tmovq %%mm0, %0\n\temms" : "=m"(v) : "r"(a) : "memory");
    return v;
}
static inline void mmio_write8(u32 a, u8 v) { *(volatile u8 *)a = v; }
static inline void mmio_write16(u32 a, u16 v) { *(volatile u16 *)a = v; }
static inline void mmio_write32(u32 a, u32 v) { *(volatile u32 *)a = v; }

/* Linux virt_mb/virt_wmb/virt_rmb on x86 (arch/x86/include/asm/barrier.h): stores may pass later loads, so the
 * full barrier is a fence; the other two only stop the compiler. */
static inline void mb(void) { __asm__ volatile("mfence" : : : "memory"); }
static inline void wmb(void) { __asm__ volatile("" : : : "memory"); }
static inline void rmb(void) { __asm__ volatile("" : : : "memory"); }

static inline void cli(void) { __asm__ volatile("cli" : : : "memory"); }
/* STI's one-instruction interrupt shadow makes "sti; hlt" atomic: an interrupt pending at the STI wakes the HLT. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" : : : "memory"); }

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
/* 64-bit unsigned division without libgcc (__udivdi3 is not in the link): quotient, remainder in *rem. */
u64 udivmod64(u64 n, u64 d, u64 *rem);

/* ---------------------------------------------------------------- console, debug values, end of run */
#define RT_PORT_CONSOLE 0xE9 /* 1-byte OUT: a console character; 4-byte OUT: a debug value */
#define RT_PORT_EXIT 0xF4    /* 4-byte OUT: end of run with this status (0 = success) */

void rt_putc(char c);
void rt_puts(const char *s); /* no newline added */
/* printf subset: %d %u %x %c %s, %llu %llx, width with 0 or space padding, %%. */
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_debug(u32 value);
__attribute__((noreturn)) void rt_exit(u32 status);
__attribute__((noreturn)) void rt_panic(const char *what);

/* ---------------------------------------------------------------- parameter block */
/* Optional run parameters the VMM writes at GPA 0x1000 before entry (docs/recording.md §2). A block whose magic
 * does not match means "all defaults": the guests behave like their scenarios' defaults. */
#define RT_PARAMS_GPA 0x1000u
#define RT_PARAMS_MAGIC 0x50475356u /* "VSGP" little-endian */
#define RT_PARAMS_VERSION 1u
#define RT_PARAM_DEFAULT 0xFFFFFFFFu
struct rt_params {
    u32 magic;     /* RT_PARAMS_MAGIC */
    u32 version;   /* RT_PARAMS_VERSION */
    u32 transport; /* 0 modern, 1 legacy, RT_PARAM_DEFAULT: the scenario's default */
    u32 irq;       /* 0 msix, 1 intx, RT_PARAM_DEFAULT */
    u32 requests;  /* the scenario's count (requests / ticks / writes), 0: default */
    u32 flags;     /* bit 0: dmesg (print the drivers' printk lines) */
    u32 seed_lo;   /* the run's seed (--seed); the guest PRNG is Prng(DeriveSeed(seed, 1)) as in the simulation */
    u32 seed_hi;
    u32 arg[8];    /* guest-specific: see each guest's header comment */
};
#define RT_FLAG_DMESG 1u
extern struct rt_params rt_params; /* a validated copy, defaults filled in */
u32 rt_param_or(u32 value, u32 fallback); /* value unless RT_PARAM_DEFAULT/0 */

/* ---------------------------------------------------------------- interrupts */
#define RT_VECTOR_BASE 0x20 /* vector = 0x20 + GSI (8259 master 0x20, slave 0x28; MSI data 0x20 + GSI) */
#define RT_GSI_MAX 32
/* The guest's interrupt hook: called with interrupts off for each GSI interrupt; the runtime EOIs after it
 * (8259 for GSI < 16, LAPIC otherwise). */
extern void (*rt_irq_handler)(u32 gsi);
void rt_pic_unmask(u32 gsi);
void rt_pic_set_level(u32 gsi); /* ELCR: level-triggered, as the firmware sets PCI INTx lines */
void rt_wait_until(volatile int *flag); /* cli; while (!*flag) sti;hlt; returns with interrupts off */
u64 rt_interrupts(void);                /* interrupts dispatched so far */

/* ---------------------------------------------------------------- guest PRNG (Sim.Engine Prng: xoshiro256**) */
struct prng { u64 s[4]; };
void prng_init(struct prng *p, u64 seed);
u64 prng_derive_seed(u64 root, u64 subsystem);
u64 prng_next(struct prng *p);
u64 prng_below(struct prng *p, u64 bound); /* Lemire, unbiased, as Prng.UInt64LessThan */
u8 prng_byte(struct prng *p);             /* Prng.NextByte: the top 8 bits */

/* The guest program's entry, called after the runtime set up interrupts; its return value is the exit status. */
int guest_main(void);

#endif
