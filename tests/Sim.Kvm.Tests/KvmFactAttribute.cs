using Sim.Kvm;

namespace Sim.Kvm.Tests;

/// <summary>A fact that needs a usable /dev/kvm: skipped, with the reason KvmSystem gives, where there is
/// none.</summary>
public sealed class KvmFactAttribute : FactAttribute
{
    public KvmFactAttribute()
    {
        if (KvmSystem.TryOpen(out KvmSystem? kvm, out string reason))
        {
            kvm!.Dispose();
            return;
        }
        Skip = "needs KVM: " + reason;
    }
}
