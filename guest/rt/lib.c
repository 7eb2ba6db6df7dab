/* The freestanding C library the compiler may call (memset/memcpy/memcmp) and the guest PRNG. */
#include "rt.h"

void *memset(void *d, int c, size_t n)
{
    u8 *p = d;
    while (n--) *p++ = (u8)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    u8 *p = d;
    const u8 *q = s;
    while (n--) *p++ = *q++;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *p = a, *q = b;
    for (; n; n--, p++, q++) {
        if (*p != *q) return *p < *q ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

u64 udivmod64(u64 n, u64 d, u64 *rem)
{
    if (d == 0) rt_panic("division by zero");
    u64 q = 0, r = 0;
    if ((d >> 32) == 0 && (n >> 32) < d) {
        /* One 64/32 divl when the quotient fits in 32 bits. */
        u32 lo = (u32)n, hi = (u32)(n >> 32), qq, rr;
        __asm__("divl %4" : "=a"(qq), "=d"(rr) : "a"(lo), "d"(hi), "rm"((u32)d));
        if (rem) *rem = rr;
        return qq;
    }
    for (int i = 63; i >= 0; i--) {
        r = (r << 1) | ((n >> i) & 1);
        if (r >= d) {
            r -= d;
            q |= 1ull << i;
        }
    }
    if (rem) *rem = r;
    return q;
}

/* Sim.Engine/Random/Prng.cs: SplitMix64 seeding, xoshiro256** steps, DeriveSeed, Lemire's bounded draw. */
static u64 splitmix64(u64 *state)
{
    *state += 0x9E3779B97F4A7C15ull;
    u64 z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void prng_init(struct prng *p, u64 seed)
{
    u64 x = seed;
    for (int i = 0; i < 4; i++) p->s[i] = splitmix64(&x);
}

u64 prng_derive_seed(u64 root, u64 subsystem)
{
    u64 x = root ^ (subsystem * 0xD1B54A32D192ED03ull);
    (void)splitmix64(&x);
    return splitmix64(&x);
}

static u64 rotl(u64 x, int k) { return (x << k) | (x >> (64 - k)); }

u64 prng_next(struct prng *p)
{
    u64 *s = p->s;
    u64 result = rotl(s[1] * 5, 7) * 9;
    u64 t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* The 128-bit product of two u64 from 32-bit halves (no __int128 on i386). */
static void mul64(u64 a, u64 b, u64 *hi, u64 *lo)
{
    u64 al = (u32)a, ah = a >> 32, bl = (u32)b, bh = b >> 32;
    u64 ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    u64 mid = (ll >> 32) + (u32)lh + (u32)hl;
    *lo = (mid << 32) | (u32)ll;
    *hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

u64 prng_below(struct prng *p, u64 bound)
{
    if (bound == 0) rt_panic("prng_below(0)");
    u64 hi, lo;
    mul64(prng_next(p), bound, &hi, &lo);
    if (lo < bound) {
        u64 threshold;
        (void)udivmod64(0 - bound, bound, &threshold);
        while (lo < threshold) mul64(prng_next(p), bound, &hi, &lo);
    }
    return hi;
}

u8 prng_byte(struct prng *p) { return (u8)(prng_next(p) >> 56); }
