/* Runtime start: parameter block, IDT, 8259 remap, LAPIC enable, interrupt dispatch and EOI
 * (docs/recording.md §2: vector = 0x20 + GSI; EOI to the 8259 for INTx, to the LAPIC for MSI). */
#include "rt.h"

/* The register frame crt0's rt_trap_common builds: pushal, then vector and error code, then the CPU's frame. */
struct rt_frame {
    u32 edi, esi, ebp, esp, ebx, edx, ecx, eax;
    u32 vector, error;
    u32 eip, cs, eflags;
};

struct idt_entry {
    u16 offset_low, selector;
    u8 zero, type_attr;
    u16 offset_high;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(8)));
extern char rt_vector_stubs[]; /* 256 stubs of 16 bytes (crt0.S) */

struct rt_params rt_params;
void (*rt_irq_handler)(u32 gsi);
static volatile u64 interrupts;

/* 8259A (Intel 8259A data sheet; Linux arch/x86/kernel/i8259.c init_8259A). */
#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define PIC_ELCR1 0x4D0
#define PIC_ELCR2 0x4D1
#define PIC_EOI 0x20
#define PIC_READ_ISR 0x0B

/* Local APIC registers (SDM vol. 3 §10.4.1: default base 0xFEE00000). */
#define LAPIC_BASE 0xFEE00000u
#define LAPIC_EOI 0xB0
#define LAPIC_SVR 0xF0
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_SVR_ENABLE 0x100
#define LAPIC_SPURIOUS_VECTOR 0xFF
#define LAPIC_DM_EXTINT 0x700
#define LAPIC_DM_NMI 0x400

u32 rt_param_or(u32 value, u32 fallback) { return value == RT_PARAM_DEFAULT || value == 0 ? fallback : value; }

static void load_params(void)
{
    const struct rt_params *p = (const struct rt_params *)RT_PARAMS_GPA;
    memset(&rt_params, 0xFF, sizeof rt_params);
    rt_params.requests = 0;
    rt_params.flags = 0;
    rt_params.seed_lo = 0;
    rt_params.seed_hi = 0;
    if (p->magic != RT_PARAMS_MAGIC || p->version != RT_PARAMS_VERSION) return;
    rt_params = *p;
}

static void idt_init(void)
{
    for (int v = 0; v < 256; v++) {
        u32 at = (u32)rt_vector_stubs + 16u * (u32)v;
        idt[v].offset_low = (u16)at;
        idt[v].selector = 0x08;
        idt[v].zero = 0;
        idt[v].type_attr = 0x8E; /* present, DPL 0, 32-bit interrupt gate: IF cleared on entry */
        idt[v].offset_high = (u16)(at >> 16);
    }
    struct { u16 limit; u32 base; } __attribute__((packed)) d = { sizeof idt - 1, (u32)idt };
    __asm__ volatile("lidt %0" : : "m"(d));
}

static u8 pic_mask[2] = { 0xFF, 0xFF };

static void pic_init(void)
{
    outb(PIC1_CMD, 0x11);  /* ICW1: edge, cascade, ICW4 needed */
    outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, RT_VECTOR_BASE);     /* ICW2: master at 0x20 */
    outb(PIC2_DATA, RT_VECTOR_BASE + 8); /* slave at 0x28 */
    outb(PIC1_DATA, 1u << 2); /* ICW3: slave on IR2 */
    outb(PIC2_DATA, 2);       /* slave identity */
    outb(PIC1_DATA, 0x01);    /* ICW4: 8086 mode, normal EOI */
    outb(PIC2_DATA, 0x01);
    pic_mask[0] = (u8)~(1u << 2); /* everything masked but the cascade; drivers unmask their line */
    pic_mask[1] = 0xFF;
    outb(PIC1_DATA, pic_mask[0]);
    outb(PIC2_DATA, pic_mask[1]);
}

void rt_pic_unmask(u32 gsi)
{
    if (gsi >= 16) return;
    int chip = gsi >= 8;
    pic_mask[chip] &= (u8)~(1u << (gsi & 7));
    outb(chip ? PIC2_DATA : PIC1_DATA, pic_mask[chip]);
}

void rt_pic_set_level(u32 gsi)
{
    if (gsi >= 16 || gsi == 0 || gsi == 1 || gsi == 2 || gsi == 8 || gsi == 13) return; /* ELCR: those stay edge */
    u16 port = gsi >= 8 ? PIC_ELCR2 : PIC_ELCR1;
    outb(port, (u8)(inb(port) | (1u << (gsi & 7))));
}

static void lapic_init(void)
{
    /* Linux setup_local_APIC in virtual-wire mode: LINT0 ExtINT (the 8259's output), LINT1 NMI, then enable. */
    mmio_write32(LAPIC_BASE + LAPIC_SVR, LAPIC_SVR_ENABLE | LAPIC_SPURIOUS_VECTOR);
    mmio_write32(LAPIC_BASE + LAPIC_LVT_LINT0, LAPIC_DM_EXTINT);
    mmio_write32(LAPIC_BASE + LAPIC_LVT_LINT1, LAPIC_DM_NMI);
}

static bool pic_in_service(u32 gsi)
{
    u16 cmd = gsi >= 8 ? PIC2_CMD : PIC1_CMD;
    outb(cmd, PIC_READ_ISR);
    return (inb(cmd) & (1u << (gsi & 7))) != 0;
}

static void eoi(u32 gsi)
{
    if (gsi < 16) {
        if (gsi >= 8) outb(PIC2_CMD, PIC_EOI);
        outb(PIC1_CMD, PIC_EOI);
    } else {
        mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
    }
}

void rt_trap(struct rt_frame *f)
{
    u32 v = f->vector;
    if (v < RT_VECTOR_BASE) {
        rt_printf("guest: exception %u error 0x%x at eip 0x%x\n", v, f->error, f->eip);
        rt_exit(0xE0 + v);
    }
    if (v == LAPIC_SPURIOUS_VECTOR) return; /* SDM §10.9: no EOI for the spurious vector */
    if (v >= RT_VECTOR_BASE + RT_GSI_MAX) {
        rt_printf("guest: unexpected vector 0x%x\n", v);
        rt_exit(0xEF);
    }
    u32 gsi = v - RT_VECTOR_BASE;
    /* 8259 spurious IRQ 7/15 (data sheet: IR7 without ISR bit): no EOI on its own chip. */
    if ((gsi == 7 || gsi == 15) && !pic_in_service(gsi)) {
        if (gsi == 15) outb(PIC1_CMD, PIC_EOI);
        return;
    }
    interrupts++;
    if (rt_irq_handler) rt_irq_handler(gsi);
    eoi(gsi);
}

void rt_wait_until(volatile int *flag)
{
    cli();
    while (!*flag) {
        sti_hlt();
        cli();
    }
}

u64 rt_interrupts(void) { return interrupts; }

__attribute__((noreturn)) void rt_start(void)
{
    load_params();
    idt_init();
    pic_init();
    lapic_init();
    int status = guest_main();
    cli();
    rt_exit((u32)status);
}
