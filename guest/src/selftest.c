/* selftest: the runtime without any device (not a scenario guest). Checks printf and 64-bit division, the guest
 * PRNG against the answers Sim.Engine.Tests' PrngTests pins, and the interrupt path: self-IPIs through the LAPIC
 * (vector 0x20 + GSI 24, the first MSI-X GSI) must each run the hook once and wake STI;HLT, and EOI must let the
 * next one in. Prints "selftest: OK" and exits 0, or names the first failed check and exits 1. */
#include "common.h"

#define LAPIC_ICR_LOW 0xFEE00300u
#define ICR_SELF (1u << 18) /* destination shorthand: self; fixed delivery */
#define SELF_IPIS 5

static volatile int hits;
static volatile u32 last_gsi;
static int failures;

static void check(bool ok, const char *what)
{
    if (!ok) {
        rt_printf("selftest: FAILED %s\n", what);
        failures++;
    }
}

static void hook(u32 gsi)
{
    last_gsi = gsi;
    hits++;
}

int guest_main(void)
{
    rt_printf("selftest: printf %d %u %x %08x %llu %llx %s %c%%\n", -42, 42u, 0xBEEFu, 0x1234u, 18446744073709551615ull, 0x123456789ABCDEFull, "str", 'c');
    u64 rem;
    check(udivmod64(1000000000000ull, 7, &rem) == 142857142857ull && rem == 1, "udivmod64 by a small divisor");
    check(udivmod64(0xFFFFFFFFFFFFFFFFull, 0x100000001ull, &rem) == 0xFFFFFFFFull && rem == 0, "udivmod64 by a 33-bit divisor");

    struct prng p;
    prng_init(&p, 0);
    check(prng_next(&p) == 0x99EC5F36CB75F2B4ull && prng_next(&p) == 0xBF6E1F784956452Aull, "Prng(0) known answers");
    prng_init(&p, 42);
    static const u32 below[8] = { 83, 378, 680, 924, 991, 769, 719, 850 };
    bool same = true;
    for (int i = 0; i < 8; i++) same &= prng_below(&p, 1000) == below[i];
    check(same, "Prng(42).UInt64LessThan(1000) known answers");
    check(prng_derive_seed(42, 7) == 0x1DCEB68A1771C478ull, "DeriveSeed(42, 7) known answer");

    rt_irq_handler = hook;
    for (int i = 0; i < SELF_IPIS; i++) {
        int before = hits;
        cli();
        mmio_write32(LAPIC_ICR_LOW, ICR_SELF | (RT_VECTOR_BASE + VPCI_MSIX_GSI_BASE));
        while (hits == before) {
            sti_hlt();
            cli();
        }
    }
    check(hits == SELF_IPIS && last_gsi == VPCI_MSIX_GSI_BASE && rt_interrupts() == SELF_IPIS, "self-IPIs delivered once each to GSI 24");
    rt_printf("selftest: %d interrupts on GSI %u\n", hits, last_gsi);
    rt_printf("selftest: %s\n", failures == 0 ? "OK" : "FAILED");
    return failures == 0 ? 0 : 1;
}
