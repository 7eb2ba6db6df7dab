/* Entry of every guest image (docs/recording.md §2): the VMM enters the first byte in 32-bit protected mode with
 * flat segments, paging and interrupts off. The image also carries a Multiboot 1 header with the address fields
 * (Multiboot 0.6.96 §3.1.3, flag 16), so `qemu-system-i386 -kernel guest.bin` boots it the same way for
 * testing without KVM. crt0 loads its own GDT (0x08 code, 0x10 data), moves to its own stack, zeroes .bss and calls
 * rt_start. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00010000

    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    cli
    jmp 1f
    .p2align 2
mb_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)
    .long mb_header        /* header_addr */
    .long __image_start    /* load_addr */
    .long __image_end      /* load_end_addr */
    .long __bss_end        /* bss_end_addr */
    .long _start           /* entry_addr */
1:
    lgdt gdt_descriptor
    ljmp $0x08, $2f
2:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    /* Its own stack in .bss, so the guest needs no memory below the image but the parameter block (under QEMU
     * 0xA0000-0xFFFFF is VGA and BIOS ROM, where the VMM's entry stack would not be writable). */
    movl $rt_stack_top, %esp
    cld
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb
    call rt_start
3:  cli                    /* rt_start ends the run through port 0xF4; never returns */
    hlt
    jmp 3b

    .section .bss
    .p2align 4
rt_stack:
    .skip 16384
rt_stack_top:

    .section .rodata
    .p2align 3
gdt:
    .quad 0                          /* null */
    .quad 0x00CF9A000000FFFF         /* 0x08: code, base 0, limit 4 GiB, 32-bit, DPL 0 */
    .quad 0x00CF92000000FFFF         /* 0x10: data, base 0, limit 4 GiB */
gdt_end:
    .p2align 2
    .word 0
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt

/* Interrupt entry stubs: one per vector, pushing a zero error code where the CPU pushes none (SDM vol. 3
 * §6.13: vectors 8, 10-14, 17, 21, 29, 30 have one), then the vector, into rt_trap_common. */
    .text
    .p2align 4
    .globl rt_vector_stubs
rt_vector_stubs:
    .set vec, 0
    .rept 256
    .p2align 4
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    pushl $vec
    .else
    pushl $0
    pushl $vec
    .endif
    jmp rt_trap_common
    .set vec, vec + 1
    .endr

rt_trap_common:
    pushal
    pushl %esp                       /* struct rt_frame * */
    call rt_trap
    addl $4, %esp
    popal
    addl $8, %esp                    /* vector and error code */
    /* Return without IRET: the machine's own KVM (the PVM flavour) runs the guest's privileged instructions through
     * KVM's instruction emulator, whose IRET handles real mode only (arch/x86/kvm/emulate.c, em_iret ->
     * emulate_iret_real; protected mode gives KVM_EXIT_INTERNAL_ERROR). Same privilege level and code segment, so
     * IRET's work is: restore EFLAGS, pop EIP, drop CS and EFLAGS. IF is restored last through STI, whose
     * one-instruction shadow (SDM vol. 2B, STI) lets the RET complete first, as IRET would. */
    btrl $9, 8(%esp)                 /* CF = the interrupted code's IF; the copy now has IF clear */
    jnc 4f
    pushl 8(%esp)                    /* the address is taken before the push: the saved EFLAGS */
    popfl
    sti
    ret $8                           /* EIP, then drop CS and EFLAGS */
4:  pushl 8(%esp)
    popfl
    ret $8
