using Sim.Engine.Memory;
using Sim.Engine.Random;

namespace Sim.Machine.Kvm;

/// <summary>
/// The guest's view of the machine, handed to <see cref="GuestProgram"/>. Memory accesses made
/// while the program or its handler runs are attributed to <see cref="MemoryActor.Guest"/>. Each
/// exit or in-kernel access adds its latency to the current step's cost, which delays the vCPU's
/// next step; all effects of a step take place at the step's start time (the loop's Now), and
/// <see cref="Now"/> is that time plus the cost accumulated so far.
/// Sizes are 1, 2, 4 or 8 bytes; values travel little-endian as in kvm_run. A bad size, or a value
/// wider than its size, is a bug in the guest program (host code) and throws.
/// </summary>
public sealed class GuestContext
{
    /// <summary>The port <see cref="DebugWrite"/> uses (Bochs/QEMU debugcon convention).</summary>
    public const ushort DebugPort = 0xE9;

    private readonly KvmModel _kvm;

    internal GuestContext(KvmModel kvm, Prng prng)
    {
        _kvm = kvm;
        Prng = prng;
    }

    /// <summary>Guest-physical memory (accesses attributed to the guest while the program runs).</summary>
    public GuestMemory Memory => _kvm.Simulation.Memory;

    /// <summary>The guest's own random stream (forked from the run's root seed).</summary>
    public Prng Prng { get; }

    /// <summary>Virtual time as the guest sees it: the step's start plus its cost so far.</summary>
    public long Now => checked(_kvm.Simulation.Loop.Now + Cost);

    /// <summary>Nanoseconds charged to the current step so far.</summary>
    public long Cost { get; internal set; }

    /// <summary>RFLAGS.IF.</summary>
    public bool InterruptsEnabled => _kvm.Irqchip.InterruptsEnabled;

    /// <summary>An MMIO load: exits to userspace (the bus device fills the value; all-ones if unmapped).</summary>
    public ulong MmioRead(ulong address, int size) => _kvm.GuestRead(this, BusKind.Mmio, address, size);

    /// <summary>An MMIO store: absorbed by a matching ioeventfd inside KVM, else exits to userspace.</summary>
    public void MmioWrite(ulong address, int size, ulong value) =>
        _kvm.GuestWrite(this, BusKind.Mmio, address, size, value);

    /// <summary>IN: exits to userspace.</summary>
    public ulong PioIn(ushort port, int size) => _kvm.GuestRead(this, BusKind.Pio, port, size);

    /// <summary>OUT: absorbed by a matching ioeventfd, else exits to userspace. Writes to
    /// <see cref="DebugPort"/> are recorded as debug-port events instead of reaching a device.</summary>
    public void PioOut(ushort port, int size, ulong value) => _kvm.GuestWrite(this, BusKind.Pio, port, size, value);

    /// <summary>A 4-byte OUT to <see cref="DebugPort"/>: a userspace exit recorded as a DebugPort event.</summary>
    public void DebugWrite(uint value) => _kvm.GuestWrite(this, BusKind.Pio, DebugPort, 4, value);

    /// <summary>A line of guest console output (what the seed test programs printf), collected in
    /// <see cref="Sim.Machine.Simulation.Simulation.Output"/>. Costs nothing: it stands for output the real guest
    /// produces through its own console device.</summary>
    public void Print(string line) => _kvm.Simulation.Print(line);

    /// <summary>STI.</summary>
    public void EnableInterrupts() => _kvm.Irqchip.InterruptsEnabled = true;

    /// <summary>CLI.</summary>
    public void DisableInterrupts() => _kvm.Irqchip.InterruptsEnabled = false;

    /// <summary>EOI to the in-kernel irqchip (an exit KVM handles itself). Returns false, changing
    /// nothing, when the GSI is not in service.</summary>
    public bool Eoi(uint gsi)
    {
        Cost = checked(Cost + _kvm.Latency.EoiNs);
        return _kvm.Irqchip.Eoi(gsi);
    }

    /// <summary>Charges <paramref name="nanoseconds"/> of guest computation to the current step
    /// without yielding (for handlers, which cannot yield).</summary>
    public void Spend(long nanoseconds)
    {
        if (nanoseconds < 0)
            throw new ArgumentOutOfRangeException(nameof(nanoseconds), "time must not be negative");
        Cost = checked(Cost + nanoseconds);
    }
}
