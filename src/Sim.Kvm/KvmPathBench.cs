using System.Diagnostics;

namespace Sim.Kvm;

/// <summary>One measured boundary-crossing path: <see cref="Operations"/> crossings in <see cref="WallNs"/> of wall
/// time and <see cref="CpuNs"/> of process CPU time (user + system, all threads: on a loaded host the wall time
/// includes time the run waited for a CPU, the CPU time does not).</summary>
public sealed record KvmPathCost(string Path, long Operations, long WallNs, long CpuNs)
{
    /// <summary>Wall-clock ns per operation.</summary>
    public double WallNsPerOperation => Operations == 0 ? 0 : (double)WallNs / Operations;

    /// <summary>CPU ns per operation (process CPU).</summary>
    public double CpuNsPerOperation => Operations == 0 ? 0 : (double)CpuNs / Operations;
}

/// <summary>
/// The bare cost of each way a guest access crosses into the host, on this machine's KVM, without any device model:
/// a bare VM (one 4 MiB slot, the in-kernel irqchip, one vCPU in 32-bit protected mode) runs a loop of N identical
/// accesses, then OUT 0xF4. A userspace PIO exit (OUT to port 0x80: KVM_EXIT_IO, the VMM re-enters at once), a
/// userspace MMIO exit (a 4-byte store to unbacked 0xFE000000: KVM_EXIT_MMIO), and an ioeventfd-absorbed write (the
/// same OUT to port 0x80 with a KVM_IOEVENTFD on it: KVM signals the eventfd and resumes the guest without leaving
/// the kernel). These are the figures <c>LatencyModel.UserspaceExitNs</c> and <c>IoEventFdNs</c> stand for.
/// </summary>
public static class KvmPathBench
{
    private const ulong RamSize = 4UL << 20;
    private const uint Entry = 0x10_0000;
    private const ushort BenchPort = 0x80;
    private const ulong BenchMmio = 0xFE00_0000;
    private const ushort EndPort = 0xF4;

    /// <summary>Runs <paramref name="operations"/> crossings of each path and returns their costs.</summary>
    public static IReadOnlyList<KvmPathCost> Run(KvmSystem kvm, int operations)
    {
        ArgumentNullException.ThrowIfNull(kvm);
        if (operations < 1)
            throw new ArgumentOutOfRangeException(nameof(operations), "at least one operation");
        var costs = new List<KvmPathCost>();
        foreach (bool paging in new[] { false, true })
        {
            string mode = paging ? "64-bit long mode, paging" : "32-bit protected mode, no paging (as the guests run)";
            costs.Add(
                Measure(
                    kvm,
                    $"userspace PIO exit (KVM_EXIT_IO), {mode}",
                    PioLoop(operations),
                    operations,
                    ioEventFd: false,
                    paging
                )
            );
            costs.Add(
                Measure(
                    kvm,
                    $"userspace MMIO exit (KVM_EXIT_MMIO), {mode}",
                    MmioLoop(operations),
                    operations,
                    ioEventFd: false,
                    paging
                )
            );
            costs.Add(
                Measure(
                    kvm,
                    $"ioeventfd-absorbed PIO write, {mode}",
                    PioLoop(operations),
                    operations,
                    ioEventFd: true,
                    paging
                )
            );
            costs.Add(
                Measure(
                    kvm,
                    $"guest LOOP instruction, no exit, {mode}",
                    SpinLoop(operations),
                    operations,
                    ioEventFd: false,
                    paging,
                    expectExits: false
                )
            );
        }
        return costs;
    }

    /// <summary>Page tables of the long-mode variant: PML4 at 0x1000, PDPT at 0x2000, PDs at 0x3000 (GPA 0-1 GiB)
    /// and 0x4000 (3-4 GiB).</summary>
    private const uint Pml4 = 0x1000;

    /// <summary>Identity map with 2 MiB pages: [0, 4 MiB) (RAM) and the 2 MiB page holding 0xFE000000 (the MMIO
    /// target): present, writable, PS.</summary>
    private static void WritePageTables(GuestRam ram)
    {
        Span<byte> t = ram.Slice(Pml4, 4 * 4096);
        t.Clear();
        static void Put(Span<byte> s, int at, ulong v) =>
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(s[at..], v);
        Put(t, 0, 0x2000 | 0x3); // PML4[0] → PDPT
        Put(t, 0x1000 + (0 * 8), 0x3000 | 0x3); // PDPT[0] → PD (0-1 GiB)
        Put(t, 0x1000 + (3 * 8), 0x4000 | 0x3); // PDPT[3] → PD (3-4 GiB)
        Put(t, 0x2000 + (0 * 8), 0x00_0000 | 0x83); // 0-2 MiB
        Put(t, 0x2000 + (1 * 8), 0x20_0000 | 0x83); // 2-4 MiB
        Put(t, 0x3000 + (0x1F0 * 8), 0xFE00_0000UL | 0x83); // 0xFE000000
    }

    /// <summary>mov ecx,n; mov dx,0x80; L: out dx,al; loop L; mov dx,0xF4; out dx,eax; hlt (the same bytes in
    /// 32-bit protected and 64-bit mode).</summary>
    private static byte[] PioLoop(int n) =>
        [
            0xB9,
            (byte)n,
            (byte)(n >> 8),
            (byte)(n >> 16),
            (byte)(n >> 24),
            0x66,
            0xBA,
            (byte)BenchPort,
            (byte)(BenchPort >> 8),
            0xEE,
            0xE2,
            0xFD,
            0x66,
            0xBA,
            (byte)EndPort,
            0x00,
            0xEF,
            0xF4,
        ];

    /// <summary>mov ecx,n; L: loop L; mov dx,0xF4; out dx,eax; hlt: guest instructions that never leave the
    /// guest.</summary>
    private static byte[] SpinLoop(int n) =>
        [
            0xB9,
            (byte)n,
            (byte)(n >> 8),
            (byte)(n >> 16),
            (byte)(n >> 24),
            0xE2,
            0xFE,
            0x66,
            0xBA,
            (byte)EndPort,
            0x00,
            0xEF,
            0xF4,
        ];

    /// <summary>mov ecx,n; L: mov [0xFE000000],eax; loop L; mov dx,0xF4; out dx,eax; hlt (32-bit protected mode;
    /// <see cref="Measure"/> widens the address for long mode).</summary>
    private static byte[] MmioLoop(int n) =>
        [
            0xB9,
            (byte)n,
            (byte)(n >> 8),
            (byte)(n >> 16),
            (byte)(n >> 24),
            0xA3,
            0x00,
            0x00,
            0x00,
            0xFE,
            0xE2,
            0xF9,
            0x66,
            0xBA,
            (byte)EndPort,
            0x00,
            0xEF,
            0xF4,
        ];

    private static KvmPathCost Measure(
        KvmSystem kvm,
        string path,
        byte[] code,
        int operations,
        bool ioEventFd,
        bool paging,
        bool expectExits = true
    )
    {
        if (paging && code[5] == 0xA3)
        {
            // Long mode: A3 takes a 64-bit absolute address (movabs [0xFE000000], eax), and the loop branch grows.
            code = [.. code[..5], 0xA3, 0x00, 0x00, 0x00, 0xFE, 0x00, 0x00, 0x00, 0x00, 0xE2, 0xF5, .. code[12..]];
        }
        using var ram = new GuestRam(RamSize);
        using KvmVm vm = kvm.CreateVm();
        vm.TrySetTssAddress(0xFFFB_D000);
        vm.CreateIrqchip();
        vm.SetMemoryRegion(0, 0, ram, logDirty: false);
        using KvmVcpu vcpu = vm.CreateVcpu(0);
        code.CopyTo(ram.Slice(Entry, code.Length));
        if (paging)
        {
            WritePageTables(ram);
            vcpu.SetLongMode64(Entry, Pml4);
        }
        else
        {
            vcpu.SetProtectedMode32(Entry);
        }
        using var fd = new HostEventFd();
        if (ioEventFd && !vm.TryIoEventFd(pio: true, BenchPort, 1, null, fd, deassign: false, out int errno))
            throw new KvmException("KVM_IOEVENTFD", errno);
        long exits = 0;
        TimeSpan cpu0 = Environment.CpuUsage.TotalTime;
        long wall0 = Stopwatch.GetTimestamp();
        while (true)
        {
            uint reason = vcpu.Run();
            if (reason == Native.KvmIoctl.ExitIo && vcpu.IoExit.Port == EndPort)
                break;
            if (reason is not (Native.KvmIoctl.ExitIo or Native.KvmIoctl.ExitMmio or Native.KvmIoctl.ExitIntr))
                throw new KvmException(
                    $"{path}: unexpected exit reason {reason} at rip 0x{vcpu.InstructionPointer():x}"
                );
            if (++exits > operations)
                throw new KvmException($"{path}: more exits than the loop's {operations} accesses");
        }
        long wall = Stopwatch.GetElapsedTime(wall0).Ticks * 100;
        long cpu = (Environment.CpuUsage.TotalTime - cpu0).Ticks * 100;
        if (ioEventFd || !expectExits)
        {
            ulong signalled = ioEventFd ? fd.Drain() : (ulong)operations;
            if (exits != 0 || signalled != (ulong)operations)
                throw new KvmException(
                    $"{path}: {exits} exits and an eventfd count of {signalled} for {operations} writes"
                );
        }
        else if (exits != operations)
        {
            throw new KvmException($"{path}: {exits} exits for {operations} accesses");
        }
        return new KvmPathCost(path, operations, wall, cpu);
    }
}
