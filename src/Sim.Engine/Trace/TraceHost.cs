namespace Sim.Engine.Trace;

/// <summary>The host a KVM trace was recorded on (header key "host").</summary>
/// <param name="KernelRelease">uname -r, e.g. "6.8.0-45-generic".</param>
/// <param name="KvmApiVersion">KVM_GET_API_VERSION (12 on every kernel since 2.6.22).</param>
/// <param name="KvmFlavour">"pvm", "kvm_amd", "kvm_intel" (the module behind /dev/kvm).</param>
/// <param name="CpuModel">/proc/cpuinfo's model name; "" when unknown (then not written).</param>
public sealed record TraceHost(string KernelRelease, int KvmApiVersion, string KvmFlavour, string CpuModel = "");
