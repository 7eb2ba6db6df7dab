namespace Sim.Spec.Demo;

/// <summary>Identity of the seed-000 lab 1 "demo" PCI device, shared by its model (<c>DemoPciDevice</c>) and its
/// driver (<c>DemoPciDriver</c>). The virtio demo of labs 2 and 3 has its own identity
/// (<see cref="VirtioDemoSpec"/>): the two devices share no constant.</summary>
public static class DemoPciSpec
{
    /// <summary>PCI_VENDOR_ID_QEMU.</summary>
    public const ushort VendorIdQemu = 0x1234;

    /// <summary>Device id the model uses for "demo" (the seed does not show one).</summary>
    public const ushort DeviceIdDemo = 0xDE00;
}
