namespace Sim.Kvm.Native;

/// <summary>KVM ioctl numbers and constants from linux/kvm.h (x86-64). _IO(0xAE, n) = 0xAE00 | n;
/// _IOW/_IOR add the direction (1 write, 2 read) in bits 30-31 and the argument size in bits 16-29.</summary>
internal static class KvmIoctl
{
    public const nuint GetApiVersion = 0xAE00; // _IO(KVMIO, 0x00)
    public const nuint CreateVm = 0xAE01; // _IO(KVMIO, 0x01)
    public const nuint CheckExtension = 0xAE03; // _IO(KVMIO, 0x03)
    public const nuint GetVcpuMmapSize = 0xAE04; // _IO(KVMIO, 0x04)
    public const nuint CreateVcpu = 0xAE41; // _IO(KVMIO, 0x41)
    public const nuint GetDirtyLog = 0x4010AE42; // _IOW(KVMIO, 0x42, struct kvm_dirty_log) 16 bytes
    public const nuint SetUserMemoryRegion = 0x4020AE46; // _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region) 32
    public const nuint SetTssAddr = 0xAE47; // _IO(KVMIO, 0x47)
    public const nuint CreateIrqchip = 0xAE60; // _IO(KVMIO, 0x60)
    public const nuint IrqLine = 0x4008AE61; // _IOW(KVMIO, 0x61, struct kvm_irq_level) 8
    public const nuint SetGsiRouting = 0x4008AE6A; // _IOW(KVMIO, 0x6a, struct kvm_irq_routing) 8 (+ entries)
    public const nuint IrqFd = 0x4020AE76; // _IOW(KVMIO, 0x76, struct kvm_irqfd) 32
    public const nuint IoEventFd = 0x4040AE79; // _IOW(KVMIO, 0x79, struct kvm_ioeventfd) 64
    public const nuint SignalMsi = 0x4020AEA5; // _IOW(KVMIO, 0xa5, struct kvm_msi) 32
    public const nuint Run = 0xAE80; // _IO(KVMIO, 0x80)
    public const nuint GetRegs = 0x8090AE81; // _IOR(KVMIO, 0x81, struct kvm_regs) 144
    public const nuint SetRegs = 0x4090AE82; // _IOW(KVMIO, 0x82, struct kvm_regs) 144
    public const nuint GetSregs = 0x8138AE83; // _IOR(KVMIO, 0x83, struct kvm_sregs) 312
    public const nuint SetSregs = 0x4138AE84; // _IOW(KVMIO, 0x84, struct kvm_sregs) 312

    public const int ApiVersion = 12;

    public const int CapIrqchip = 0;
    public const int CapIrqRouting = 25;
    public const int CapIrqFd = 32;
    public const int CapIoEventFd = 36;
    public const int CapSignalMsi = 77;

    public const uint MemLogDirtyPages = 1;

    public const uint IoEventFdFlagDataMatch = 1 << 0;
    public const uint IoEventFdFlagPio = 1 << 1;
    public const uint IoEventFdFlagDeassign = 1 << 2;

    public const uint IrqFdFlagDeassign = 1 << 0;

    // struct kvm_irq_routing_entry.type and the irqchip ids of its irqchip routes
    public const uint IrqRoutingIrqchip = 1;
    public const uint IrqRoutingMsi = 2;
    public const uint IrqchipPicMaster = 0;
    public const uint IrqchipPicSlave = 1;
    public const uint IrqchipIoapic = 2;

    // kvm_run.exit_reason
    public const uint ExitUnknown = 0;
    public const uint ExitIo = 2;
    public const uint ExitHlt = 5;
    public const uint ExitMmio = 6;
    public const uint ExitShutdown = 8;
    public const uint ExitFailEntry = 9;
    public const uint ExitIntr = 10;
    public const uint ExitInternalError = 17;
    public const uint ExitSystemEvent = 24;

    public const byte ExitIoIn = 0;
    public const byte ExitIoOut = 1;
}
