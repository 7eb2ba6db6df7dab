/* guest/test/vmm: a minimal KVM VMM for booting a guest image without the recorder (guest/README.md).
 * It builds the machine of docs/recording.md §2 without devices: 4 MiB of RAM in one slot, the in-kernel irqchip,
 * the image at 0x100000, one vCPU in 32-bit protected mode with flat segments. It prints the guest's console
 * (1-byte OUT 0xE9) and debug values (4-byte OUT 0xE9), answers PCI configuration reads with all-ones (no device
 * in any slot), other port and MMIO reads with all-ones, and stops at the 4-byte OUT to 0xF4, whose value becomes
 * its exit status. At the end it prints the guest's descriptor tables, 8259 and LAPIC state, so the runtime's
 * set-up can be checked:
 *   vmm: gdt base=0x... limit=23 idt base=0x... limit=2047 cs=0x8 ds=0x10 ss=0x10 ...
 * Usage: vmm IMAGE [PARAMS.bin] [--exits-max N]. PARAMS.bin is written at GPA 0x1000 (the parameter block).
 * Exit status: the guest's status, 125 on a VMM error or an exit it cannot serve, 124 when exits-max ran out. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEM_BYTES (4u << 20)
#define LOAD_GPA 0x100000u
#define PARAMS_GPA 0x1000u
#define PORT_CONSOLE 0xE9
#define PORT_EXIT 0xF4
#define PORT_PCI_ADDRESS 0xCF8
#define PORT_PCI_DATA 0xCFC

static void die(const char *what)
{
    fprintf(stderr, "vmm: %s: %s\n", what, strerror(errno));
    exit(125);
}

static size_t load(const char *path, uint8_t *at, size_t room)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) die(path);
    struct stat st;
    if (fstat(fd, &st) < 0) die(path);
    if ((size_t)st.st_size > room) {
        fprintf(stderr, "vmm: %s: %lld bytes do not fit\n", path, (long long)st.st_size);
        exit(125);
    }
    size_t done = 0;
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, at + done, (size_t)st.st_size - done);
        if (n <= 0) die(path);
        done += (size_t)n;
    }
    close(fd);
    return done;
}

static void segment(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
    memset(s, 0, sizeof *s);
    s->base = 0;
    s->limit = 0xFFFFFFFF;
    s->selector = selector;
    s->type = type;
    s->present = 1;
    s->db = 1;
    s->s = 1;
    s->g = 1;
}

static void report(int vcpu, int vm)
{
    struct kvm_sregs sr;
    if (ioctl(vcpu, KVM_GET_SREGS, &sr) < 0) die("KVM_GET_SREGS");
    printf("vmm: gdt base=0x%llx limit=%u idt base=0x%llx limit=%u cs=0x%x ds=0x%x ss=0x%x cr0=0x%llx\n",
        (unsigned long long)sr.gdt.base, sr.gdt.limit, (unsigned long long)sr.idt.base, sr.idt.limit,
        sr.cs.selector, sr.ds.selector, sr.ss.selector, (unsigned long long)sr.cr0);
    struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
    if (ioctl(vm, KVM_GET_IRQCHIP, &chip) == 0) {
        struct kvm_irqchip slave = { .chip_id = KVM_IRQCHIP_PIC_SLAVE };
        ioctl(vm, KVM_GET_IRQCHIP, &slave);
        printf("vmm: pic master base=0x%x imr=0x%02x elcr=0x%02x slave base=0x%x imr=0x%02x elcr=0x%02x\n",
            chip.chip.pic.irq_base, chip.chip.pic.imr, chip.chip.pic.elcr, slave.chip.pic.irq_base, slave.chip.pic.imr,
            slave.chip.pic.elcr);
    }
    struct kvm_lapic_state lapic;
    if (ioctl(vcpu, KVM_GET_LAPIC, &lapic) == 0) {
        uint32_t svr, lvt0;
        memcpy(&svr, lapic.regs + 0xF0, 4);
        memcpy(&lvt0, lapic.regs + 0x350, 4);
        printf("vmm: lapic svr=0x%x lvt0=0x%x\n", svr, lvt0);
    }
}

int main(int argc, char **argv)
{
    const char *image = NULL, *params = NULL;
    long exits_max = 50000000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--exits-max") == 0 && i + 1 < argc) exits_max = atol(argv[++i]);
        else if (!image) image = argv[i];
        else if (!params) params = argv[i];
        else {
            fprintf(stderr, "usage: vmm IMAGE [PARAMS.bin] [--exits-max N]\n");
            return 2;
        }
    }
    if (!image) {
        fprintf(stderr, "usage: vmm IMAGE [PARAMS.bin] [--exits-max N]\n");
        return 2;
    }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    ioctl(vm, KVM_SET_TSS_ADDR, 0xFFFBD000ul); /* VMX needs it; others ignore it */
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
    uint8_t *mem = mmap(NULL, MEM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) die("mmap");
    struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_BYTES, .userspace_addr = (uint64_t)(uintptr_t)mem };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
    size_t bytes = load(image, mem + LOAD_GPA, MEM_BYTES - LOAD_GPA);
    if (params) load(params, mem + PARAMS_GPA, 0x1000);
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");

    struct kvm_sregs sr;
    if (ioctl(vcpu, KVM_GET_SREGS, &sr) < 0) die("KVM_GET_SREGS");
    segment(&sr.cs, 0x08, 11); /* execute/read, accessed */
    segment(&sr.ds, 0x10, 3);  /* read/write, accessed */
    sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
    sr.cr0 = 0x11; /* PE | ET */
    if (ioctl(vcpu, KVM_SET_SREGS, &sr) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = { .rip = LOAD_GPA, .rsp = LOAD_GPA, .rflags = 0x2 };
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
    fprintf(stderr, "vmm: %s: %zu bytes at 0x%x%s\n", image, bytes, LOAD_GPA, params ? ", parameter block at 0x1000" : "");

    uint32_t pci_address = 0;
    long exits = 0, config_reads = 0, mmio = 0;
    char line[4096];
    size_t len = 0;
    for (;;) {
        if (++exits > exits_max) {
            fprintf(stderr, "vmm: %ld exits without an end of run\n", exits_max);
            return 124;
        }
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) continue;
            die("KVM_RUN");
        }
        if (run->exit_reason == KVM_EXIT_IO) {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            for (uint32_t k = 0; k < run->io.count; k++, data += run->io.size) {
                uint32_t v = 0;
                if (run->io.direction == KVM_EXIT_IO_OUT) {
                    memcpy(&v, data, run->io.size);
                    if (run->io.port == PORT_CONSOLE && run->io.size == 1) {
                        if (v == '\n' || len == sizeof line - 1) {
                            line[len] = 0;
                            printf("guest: %s\n", line);
                            len = 0;
                        } else {
                            line[len++] = (char)v;
                        }
                    } else if (run->io.port == PORT_CONSOLE && run->io.size == 4) {
                        printf("debug: 0x%08x\n", v);
                    } else if (run->io.port == PORT_EXIT && run->io.size == 4) {
                        if (len) printf("guest: %.*s\n", (int)len, line);
                        printf("vmm: end of run, status %u, %ld exits (%ld PCI config reads, %ld MMIO)\n", v, exits, config_reads, mmio);
                        report(vcpu, vm);
                        fflush(stdout);
                        return v > 124 ? 125 : (int)v;
                    } else if (run->io.port == PORT_PCI_ADDRESS && run->io.size == 4) {
                        pci_address = v;
                    }
                } else {
                    /* No device anywhere: configuration reads of every slot and other ports read all-ones. */
                    if (run->io.port >= PORT_PCI_DATA && run->io.port < PORT_PCI_DATA + 4) config_reads++;
                    else if (run->io.port == PORT_PCI_ADDRESS) v = pci_address;
                    if (run->io.port != PORT_PCI_ADDRESS) v = 0xFFFFFFFFu;
                    memcpy(data, &v, run->io.size);
                }
            }
        } else if (run->exit_reason == KVM_EXIT_MMIO) {
            mmio++;
            if (!run->mmio.is_write) memset(run->mmio.data, 0xFF, sizeof run->mmio.data);
        } else if (run->exit_reason == KVM_EXIT_HLT) {
            fprintf(stderr, "vmm: HLT reached userspace (no in-kernel irqchip?)\n");
            return 125;
        } else {
            fprintf(stderr, "vmm: unexpected exit %u (hardware reason 0x%llx)\n", run->exit_reason,
                (unsigned long long)run->hw.hardware_exit_reason);
            report(vcpu, vm);
            return 125;
        }
    }
}
