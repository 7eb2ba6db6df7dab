namespace Sim.Spec.Demo;

/// <summary>Identity of the seed-000 virtio demo device (labs 2 and 3), shared by its models
/// (<c>VirtioDemoDevice</c>, the vhost demo) and its driver (<c>VirtioDemoDriver</c>).</summary>
public static class VirtioDemoSpec
{
    /// <summary>VIRTIO_ID_DEMO of the virtio demo device (seed 000): the seed does not show its value; 44 is
    /// unused by the virtio spec's list next to the seed 001 "test" device's 45.</summary>
    public const ushort VirtioIdDemo = 44;
}
