using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Guest-memory access gate for a virtio device, outside device code (STYLE item 12): the device may touch guest
/// memory only while the driver has set DRIVER_OK since the last reset (VIRTIO 1.2 §3.1.2 "The device MUST NOT consume
/// buffers or send any used buffer notifications to the driver before DRIVER_OK"; §2.4: after a reset the device uses
/// nothing the driver set up before) and bus mastering is on (PCI 3.0 §6.2.2: no DMA without it). The target says
/// how to tell through <see cref="Probe"/>, asked at each device access: it reads the driver-visible registers
/// (device_status, the PCI command register), never the device's private flags. Every <see cref="MemoryActor.Device"/>
/// access while the probe names a reason is a finding.
/// </summary>
internal sealed class DeviceAccessGate : IMemoryObserver
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "transport";

    /// <summary>Where findings go.</summary>
    public FuzzContext? Context { get; set; }

    /// <summary>Null while the device may access memory, else why not (set once per target; must not touch guest
    /// memory).</summary>
    public Func<string?>? Probe { get; set; }

    /// <summary>Device accesses seen while closed.</summary>
    public int Violations { get; private set; }

    public void OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
        Judge(actor, address, data.Length, "read");

    public void OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data) =>
        Judge(actor, address, data.Length, "write");

    /// <summary>Device accesses seen so far (open or not): lets a caller tell whether the device ran during a
    /// step.</summary>
    public long DeviceAccesses { get; private set; }

    private void Judge(MemoryActor actor, GuestAddress address, int length, string what)
    {
        if (actor != MemoryActor.Device)
            return;
        DeviceAccesses++;
        if (Probe is null)
            return;
        string? closed = Probe();
        if (closed is null)
            return;
        Violations++;
        Context?.Report(
            Oracle,
            "transport/device-access-while-stopped",
            $"the device did a {length}-byte {what} at 0x{address.Value:x} while {closed} (VIRTIO 1.2 §3.1.2, §2.4)"
        );
    }
}
