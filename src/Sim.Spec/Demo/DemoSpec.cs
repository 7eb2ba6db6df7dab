namespace Sim.Spec.Demo;

/// <summary>Identity of the seed-000 demo devices (the PCI demo and the virtio demo), shared by the device models and
/// their drivers.</summary>
public static class DemoSpec
{
    /// <summary>PCI_VENDOR_ID_QEMU.</summary>
    public const ushort VendorIdQemu = 0x1234;

    /// <summary>Device id the model uses for "demo" (the seed does not show one).</summary>
    public const ushort DeviceIdDemo = 0xDE00;

    /// <summary>VIRTIO_ID_DEMO of the virtio demo device (seed 000): the seed does not show its value; 44 is
    /// unused by the virtio spec's list next to the seed 001 "test" device's 45.</summary>
    public const ushort VirtioIdDemo = 44;
}
