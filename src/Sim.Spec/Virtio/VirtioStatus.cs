namespace Sim.Spec.Virtio;

/// <summary>Device status field bits (VIRTIO 1.2 §2.1).</summary>
[Flags]
public enum VirtioStatus : byte
{
    /// <summary>Reset state (writing 0 resets the device).</summary>
    None = 0,

    /// <summary>ACKNOWLEDGE (1): the guest OS has found the device.</summary>
    Acknowledge = 1,

    /// <summary>DRIVER (2): the guest OS knows how to drive the device.</summary>
    Driver = 2,

    /// <summary>DRIVER_OK (4): the driver is set up and ready to drive the device.</summary>
    DriverOk = 4,

    /// <summary>FEATURES_OK (8): the driver has acknowledged the features it understands; negotiation is
    /// complete.</summary>
    FeaturesOk = 8,

    /// <summary>DEVICE_NEEDS_RESET (64): the device has hit an error it cannot recover from.</summary>
    DeviceNeedsReset = 64,

    /// <summary>FAILED (128): the guest has given up on the device.</summary>
    Failed = 128,
}
