using Sim.Devices;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// Target naming: device targets are called <c>&lt;device&gt;-&lt;backend&gt;-&lt;flavour&gt;</c>
/// (<c>virtio-demo-qemu-robust</c>, <c>virtio-demo-vhost-seed</c>; names stay <c>[a-z0-9-]</c>, safe for paths and
/// test class names); engine-level targets have a plain name (<c>split-virtqueue</c>). The backend and flavour are
/// recognised from the end of the name (they are a closed set). On the command line <c>--target virtio-demo --backend
/// vhost --flavour seed</c> means the same, and a part left out takes its default: the device's first backend (qemu
/// where there is one), flavour robust.
/// </summary>
internal static class FuzzTargetName
{
    public const string BackendQemu = "qemu";
    public const string BackendVhost = "vhost";

    /// <summary>Not a backend: the differential targets that run one input on both (oracle 7).</summary>
    public const string BackendDiff = "diff";

    public const char Separator = '-';

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

    /// <summary>Splits <c>device[-backend][-flavour]</c> from the end: a trailing <c>robust</c>/<c>seed</c> is the
    /// flavour, a trailing <c>qemu</c>/<c>vhost</c> the backend. Null parts were not given.</summary>
    public static (string Device, string? Backend, Flavour? Flavour) Split(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string rest = name;
        Flavour? flavour = null;
        string? backend = null;
        int dash = rest.LastIndexOf(Separator);
        if (dash > 0 && TryParseFlavour(rest[(dash + 1)..], out Flavour f))
        {
            flavour = f;
            rest = rest[..dash];
            dash = rest.LastIndexOf(Separator);
        }
        if (dash > 0 && rest[(dash + 1)..] is BackendQemu or BackendVhost or BackendDiff)
        {
            backend = rest[(dash + 1)..];
            rest = rest[..dash];
        }
        return (rest, backend, flavour);
    }
}
