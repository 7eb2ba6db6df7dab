using System.Globalization;
using Sim.Engine;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Reads both halves into <see cref="LockstepObservation"/>s after an input, for every device's lockstep: the model's
/// guest memory (its two 32 KiB regions), broken state, status and ISR; and QEMU's status, ISR and RAM [0, 64 KiB) in
/// one qtest round trip (whether QEMU is broken is the lockstep's call: the status bit or QMP).
/// </summary>
internal sealed class ObservationReader
{
    private string[]? _commands;

    /// <summary>Forgets the register addresses (after QEMU was re-attached: its BAR may sit elsewhere).</summary>
    public void Forget() => _commands = null;

    /// <summary>The model's side.</summary>
    public static void Model(ModelVirtioRig rig, LockstepObservation o)
    {
        ArgumentNullException.ThrowIfNull(rig);
        ArgumentNullException.ThrowIfNull(o);
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            memory.TryRead(new GuestAddress(0), o.Memory.AsSpan(0, (int)RingInput.RegionSize));
            memory.TryRead(new GuestAddress(RingInput.RegionSize), o.Memory.AsSpan((int)RingInput.RegionSize));
        }
        o.Broken = rig.VirtioDevice.IsBroken;
        o.BrokenReason = rig.VirtioDevice.BrokenReason;
        o.DeviceStatus = Narrow.LowByte(rig.CommonRead(L.CommonDeviceStatus, 1));
        o.Isr = rig.ReadIsr();
    }

    /// <summary>QEMU's side in one round trip: status, ISR, RAM [0, 64 KiB). Broken is decided by the caller.</summary>
    public void Qemu(QemuMachine q, QemuVirtioPci pci, LockstepObservation o)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(pci);
        ArgumentNullException.ThrowIfNull(o);
        _commands ??=
        [
            string.Create(CultureInfo.InvariantCulture, $"readb 0x{pci.CommonAddress + L.CommonDeviceStatus:x}"),
            string.Create(CultureInfo.InvariantCulture, $"readb 0x{pci.IsrAddress:x}"),
        ];
        ulong[] values = q.Qtest.QueryAllThenBytes(_commands, 0, o.Memory, out bool memoryRead);
        o.DeviceStatus = Narrow.LowByte(values[0]);
        o.Isr = Narrow.LowByte(values[1]);
        if (!memoryRead)
            throw new QemuDiedException("qtest refused to read guest RAM [0, 64 KiB)");
    }
}
