using Sim.Engine.Trace;

namespace Sim.Kvm;

/// <summary>What a KVM trace's header says about its host (docs/recording.md §4): kernel release, KVM flavour
/// (the module bound to /dev/kvm: "pvm", "kvm_amd", "kvm_intel"), API version, CPU model.</summary>
public static class HostInfo
{
    /// <summary>The trace header's host record for this machine and KVM API <paramref name="apiVersion"/>.</summary>
    public static TraceHost Describe(int apiVersion) => new(KernelRelease(), apiVersion, KvmFlavour(), CpuModel());

    /// <summary>The kernel release (<c>uname -r</c>), or "unknown".</summary>
    public static string KernelRelease() => ReadFirstLine("/proc/sys/kernel/osrelease") ?? "unknown";

    /// <summary>PVM is checked first: a PVM host loads kvm_pvm beside the plain kvm module.</summary>
    public static string KvmFlavour()
    {
        if (Directory.Exists("/sys/module/kvm_pvm"))
            return "pvm";
        if (Directory.Exists("/sys/module/kvm_amd"))
            return "kvm_amd";
        if (Directory.Exists("/sys/module/kvm_intel"))
            return "kvm_intel";
        return "unknown";
    }

    /// <summary>The CPU model name from /proc/cpuinfo, or "unknown".</summary>
    public static string CpuModel()
    {
        try
        {
            foreach (string line in File.ReadLines("/proc/cpuinfo"))
            {
                if (!line.StartsWith("model name", StringComparison.Ordinal))
                    continue;
                int colon = line.IndexOf(':', StringComparison.Ordinal);
                return colon < 0 ? "unknown" : line[(colon + 1)..].Trim();
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return "unknown";
    }

    private static string? ReadFirstLine(string path)
    {
        try
        {
            return File.ReadLines(path).FirstOrDefault()?.Trim();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
