using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What one device adds to <see cref="LockstepDriver"/>'s shared operation loop: how QEMU settles after a kick (blk:
/// a round trip, then used.idx and QMP on the careful path; rng: used.idx read until the entropy bottom half ran), a
/// look at memory just before DRIVER_OK is written, and what the model device's own stores mean (rng: entropy bytes).
/// </summary>
internal interface ILockstepDevice
{
    /// <summary>Called after a kick reached the model and its notify write is queued for QEMU (not yet sent).</summary>
    void Settle(QemuMachine qemu, ModelVirtioRig rig);

    /// <summary>Called during an initialisation just before DRIVER_OK is written, with the available ring's
    /// address.</summary>
    void BeforeDriverOk(ModelVirtioRig rig, ulong avail);

    /// <summary>A store of the model's device into the model's memory (the guest's stores are mirrored to QEMU by the
    /// driver).</summary>
    void OnDeviceWrite(GuestAddress address, ReadOnlySpan<byte> data);

    /// <summary>Op 13 (<see cref="Targets.Rings.RingInput.OpInjectFrame"/>) on both halves: net injects the op's frame
    /// into the model's link and sends QEMU what the model took; the other devices do nothing, as their model
    /// targets.</summary>
    void DeviceEvent(QemuMachine qemu, ModelVirtioRig rig, in Targets.Rings.RingInput.Op op);
}
