using Sim.Devices;

namespace Fuzz.Targets;

/// <summary>
/// Target naming: device targets are called <c>&lt;device&gt;:&lt;backend&gt;:&lt;flavour&gt;</c>
/// (<c>virtio-demo:qemu:robust</c>, <c>virtio-demo:vhost:seed</c>); engine-level targets have a plain name
/// (<c>split-virtqueue</c>). On the command line <c>--target virtio-demo --backend vhost --flavour seed</c> means the
/// same, and a part left out takes its default: the device's first backend (qemu where there is one), flavour robust.
/// </summary>
public static class FuzzTargetName
{
    public const string BackendQemu = "qemu";
    public const string BackendVhost = "vhost";

    public const char Separator = ':';

    public static string Compose(string device, string backend, Flavour flavour) =>
        $"{device}{Separator}{backend}{Separator}{FlavourName(flavour)}";

    public static string FlavourName(Flavour flavour) => flavour == Flavour.Seed ? "seed" : "robust";

    /// <summary>Parses <c>robust</c> or <c>seed</c>.</summary>
    public static bool TryParseFlavour(string text, out Flavour flavour)
    {
        switch (text)
        {
            case "robust":
                flavour = Flavour.Robust;
                return true;
            case "seed":
                flavour = Flavour.Seed;
                return true;
            default:
                flavour = Flavour.Robust;
                return false;
        }
    }

    /// <summary>Splits <c>device[:backend][:flavour]</c>: a part that names a flavour is the flavour, another is the
    /// backend. Null parts were not given.</summary>
    public static (string Device, string? Backend, Flavour? Flavour) Split(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string[] parts = name.Split(Separator);
        string? backend = null;
        Flavour? flavour = null;
        for (int i = 1; i < parts.Length; i++)
        {
            if (TryParseFlavour(parts[i], out Flavour f)) flavour = f;
            else backend = parts[i];
        }
        return (parts[0], backend, flavour);
    }
}
