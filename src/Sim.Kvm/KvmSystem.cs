using System.Runtime.InteropServices;
using Sim.Kvm.Native;

namespace Sim.Kvm;

/// <summary>/dev/kvm, opened: the API version check and VM creation. <see cref="TryOpen"/> says plainly why
/// KVM cannot be used (no device node, no permission, wrong API) instead of throwing.</summary>
public sealed class KvmSystem : IDisposable
{
    /// <summary>The KVM device.</summary>
    public const string DevicePath = "/dev/kvm";

    private readonly SafeFd _fd;

    private KvmSystem(SafeFd fd, int apiVersion)
    {
        _fd = fd;
        ApiVersion = apiVersion;
    }

    /// <summary>KVM_GET_API_VERSION (12 on every kernel since 2.6.22).</summary>
    public int ApiVersion { get; }

    internal SafeFd Handle => _fd;

    /// <summary>Opens /dev/kvm (or <paramref name="path"/>) and checks the API version; false with a
    /// one-line reason when KVM is missing or unusable.</summary>
    public static bool TryOpen(out KvmSystem? kvm, out string reason, string path = DevicePath)
    {
        kvm = null;
        if (!File.Exists(path))
        {
            reason =
                $"{path} is not present on this machine; recording needs a host with KVM (replaying works anywhere)";
            return false;
        }
        int fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            reason = errno switch
            {
                13 or 1 => $"{path} exists but cannot be opened (permission denied: run as root or join the kvm group)",
                19 or 6 => $"{path} exists but no KVM module is bound to it (no such device)",
                _ => $"{path} cannot be opened: errno {errno}",
            };
            return false;
        }
        var handle = new SafeFd(fd);
        int api = LibC.Ioctl(handle.Fd, KvmIoctl.GetApiVersion, 0);
        if (api != KvmIoctl.ApiVersion)
        {
            handle.Dispose();
            reason = $"{path}: KVM_GET_API_VERSION returned {api}, expected {KvmIoctl.ApiVersion}";
            return false;
        }
        kvm = new KvmSystem(handle, api);
        reason = "";
        return true;
    }

    /// <summary>KVM_CHECK_EXTENSION: 0 when the capability is absent, otherwise its value.</summary>
    public int CheckExtension(int capability) => Math.Max(0, LibC.Ioctl(_fd.Fd, KvmIoctl.CheckExtension, capability));

    /// <summary>KVM_GET_VCPU_MMAP_SIZE: bytes of each vCPU's kvm_run mapping.</summary>
    public int VcpuMmapSize()
    {
        int size = LibC.Ioctl(_fd.Fd, KvmIoctl.GetVcpuMmapSize, 0);
        if (size <= 0)
            throw new KvmException("KVM_GET_VCPU_MMAP_SIZE", Marshal.GetLastPInvokeError());
        return size;
    }

    /// <summary>KVM_CREATE_VM (default machine type).</summary>
    public KvmVm CreateVm() => new(this, SafeFd.Check(LibC.Ioctl(_fd.Fd, KvmIoctl.CreateVm, 0), "KVM_CREATE_VM"));

    /// <summary>Closes /dev/kvm.</summary>
    public void Dispose() => _fd.Dispose();
}
