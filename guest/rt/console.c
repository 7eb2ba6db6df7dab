/* Console lines on port 0xE9 (one 1-byte OUT per character), debug values (4-byte OUT to 0xE9), end of run
 * (4-byte OUT to 0xF4): docs/recording.md §2. */
#include "rt.h"
#include <stdarg.h>

void rt_putc(char c) { outb(RT_PORT_CONSOLE, (u8)c); }

void rt_puts(const char *s)
{
    while (*s) rt_putc(*s++);
}

void rt_debug(u32 value) { outl(RT_PORT_CONSOLE, value); }

void rt_exit(u32 status)
{
    for (;;) {
        outl(RT_PORT_EXIT, status);
        /* A VMM that does not stop here: stay halted with interrupts off. */
        __asm__ volatile("cli; hlt");
    }
}

void rt_panic(const char *what)
{
    rt_printf("guest: panic: %s\n", what);
    rt_exit(0xDEAD);
}

static void put_number(u64 v, unsigned base, int width, char pad, bool negative)
{
    char buf[24];
    int n = 0;
    do {
        u64 r;
        v = udivmod64(v, base, &r);
        unsigned d = (unsigned)r;
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    } while (v != 0);
    if (negative) {
        if (pad == '0') { rt_putc('-'); width--; }
        else buf[n++] = '-';
    }
    for (; width > n; width--) rt_putc(pad);
    while (n > 0) rt_putc(buf[--n]);
}

void rt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') { rt_putc(*p); continue; }
        p++;
        char pad = ' ';
        int width = 0;
        if (*p == '0') { pad = '0'; p++; }
        while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        int longs = 0;
        while (*p == 'l') { longs++; p++; }
        switch (*p) {
        case 'd': {
            s32 v = va_arg(ap, s32);
            put_number(v < 0 ? (u64)(-(long long)v) : (u64)v, 10, width, pad, v < 0);
            break;
        }
        case 'u': put_number(longs >= 2 ? va_arg(ap, u64) : va_arg(ap, u32), 10, width, pad, false); break;
        case 'x': put_number(longs >= 2 ? va_arg(ap, u64) : va_arg(ap, u32), 16, width, pad, false); break;
        case 'c': rt_putc((char)va_arg(ap, int)); break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n = (int)strlen(s);
            for (; width > n; width--) rt_putc(' ');
            rt_puts(s);
            break;
        }
        case '%': rt_putc('%'); break;
        case 0: p--; break;
        default: rt_putc('%'); rt_putc(*p); break;
        }
    }
    va_end(ap);
}
