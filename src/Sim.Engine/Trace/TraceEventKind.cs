namespace Sim.Engine.Trace;

/// <summary>
/// What a trace event records. The numeric values are part of the trace format (traces/README.md):
/// never renumber, only append. Field use per kind (Source, Address, Value, Data) is documented on
/// each member; unused fields are zero/empty.
/// </summary>
public enum TraceEventKind : byte
{
    /// <summary>vCPU MMIO read exit. Address = GPA, Value = size in bytes, Data = the bytes the device returned
    /// (little-endian).</summary>
    MmioRead = 1,

    /// <summary>vCPU MMIO write exit to userspace. Address = GPA, Value = size, Data = bytes written by the
    /// guest.</summary>
    MmioWrite = 2,

    /// <summary>vCPU port-I/O IN exit. Address = port, Value = size, Data = bytes the device returned.</summary>
    PioIn = 3,

    /// <summary>vCPU port-I/O OUT exit. Address = port, Value = size, Data = bytes written by the guest.</summary>
    PioOut = 4,

    /// <summary>A guest write matched an ioeventfd inside "KVM" (no userspace exit). Source = eventfd id,
    /// Address = GPA or port, Value = size, Data = bytes written.</summary>
    IoEventFd = 5,

    /// <summary>An eventfd was signalled (written). Source = eventfd id, Value = amount added.</summary>
    EventFdSignal = 6,

    /// <summary>An eventfd was read (consumed). Source = eventfd id, Value = counter value returned.</summary>
    EventFdRead = 7,

    /// <summary>An interrupt was injected into the vCPU. Source = irqfd id or 0 for a direct line,
    /// Address = GSI, Value = vector.</summary>
    IrqInject = 8,

    /// <summary>The guest acknowledged an interrupt (EOI). Address = GSI, Value = vector.</summary>
    IrqEoi = 9,

    /// <summary>The vCPU executed HLT. Value = 1 if it blocked waiting for an interrupt.</summary>
    Halt = 10,

    /// <summary>A device or host timer fired. Source = timer id, Value = expiry count.</summary>
    TimerFire = 11,

    /// <summary>The device side read guest memory. Source = actor id, Address = GPA, Data = bytes read.</summary>
    DeviceRead = 12,

    /// <summary>The device side wrote guest memory. Source = actor id, Address = GPA, Data = bytes written.</summary>
    DeviceWrite = 13,

    /// <summary>The guest changed guest memory between events. Address = GPA, Data = new bytes.</summary>
    GuestWrite = 14,

    /// <summary>The guest program wrote to the debug port. Address = port, Value = value written.</summary>
    DebugPort = 15,

    /// <summary>A device-visible result the device reports (status change, request completed, log line).
    /// Source = device id, Address = result code, Value = result value, Data = optional bytes.</summary>
    DeviceResult = 16,

    /// <summary>Periodic checkpoint. Value = running event-stream hash, Address = guest-memory content hash.</summary>
    Checkpoint = 17,

    /// <summary>A host actor (QEMU main loop, vhost worker) was woken / switched to. Source = actor id, Value =
    /// reason.</summary>
    ContextSwitch = 18,
}
