using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Sim.Kvm.KernelVhost;
using Virtsim.Fuzz.Targets;

namespace Virtsim.LabAgent;

/// <summary>
/// <see cref="IVhostCoreMirror"/> on a real kernel vhost device: one open of the device per execution (released at
/// <see cref="End"/>, which stops and cleans the kernel's vhost_dev), the simulated VMM's regions mapped at the same
/// userspace addresses in this process (so access_ok and the worker's copies see the same ranges), and real kick,
/// call and error eventfds.
/// </summary>
internal sealed class KernelVhostMirror : IVhostCoreMirror, IDisposable
{
    private readonly string _path;
    private readonly List<FixedMapping> _mappings = [];
    private readonly EventFdHandle _kick = new();
    private readonly EventFdHandle _call = new();
    private readonly EventFdHandle _err = new();
    private KernelVhostDevice? _device;
    private VhostMemoryRegion[] _regions = [];

    public KernelVhostMirror(string path) => _path = path;

    private KernelVhostDevice Device => _device ?? throw new InvalidOperationException("no execution begun");

    public void Begin(VmmAddressSpace vmm)
    {
        _regions = vmm.MemoryTable();
        if (_mappings.Count == 0)
        {
            foreach (VhostMemoryRegion r in _regions)
                _mappings.Add(new FixedMapping(r.UserspaceAddr, r.MemorySize));
        }
        else if (
            _mappings.Count != _regions.Length
            || _mappings
                .Where((m, i) => m.Address != _regions[i].UserspaceAddr || m.Length != _regions[i].MemorySize)
                .Any()
        )
        {
            throw new InvalidOperationException("the simulated VMM's regions moved between executions");
        }
        foreach (FixedMapping m in _mappings)
            m.Bytes.Clear();
        _device = new KernelVhostDevice(_path);
    }

    public void End()
    {
        _device?.Dispose();
        _device = null;
        _kick.Drain();
        _call.Drain();
        _err.Drain();
    }

    public VhostResult SetOwner() => Device.SetOwner();

    public VhostResult ResetOwner() => Device.ResetOwner();

    public VhostResult GetFeatures(out ulong features) => Device.GetFeatures(out features);

    public VhostResult SetFeatures(ulong features) => Device.SetFeatures(features);

    public VhostResult SetMemTable(ReadOnlySpan<VhostMemoryRegion> regions, uint padding) =>
        Device.SetMemTable(regions, padding);

    public VhostResult SetVringNum(uint index, uint num) => Device.SetVringNum(index, num);

    public VhostResult SetVringAddr(uint index, in VhostVringAddr addr) => Device.SetVringAddr(index, addr);

    public VhostResult SetVringBase(uint index, uint num) => Device.SetVringBase(index, num);

    public VhostResult GetVringBase(uint index, out uint num) => Device.GetVringBase(index, out num);

    public VhostResult SetVringFd(VhostFdIoctl ioctl, uint index, VhostMirrorFd fd)
    {
        nuint request = ioctl switch
        {
            VhostFdIoctl.Kick => VhostIoctl.SetVringKick,
            VhostFdIoctl.Call => VhostIoctl.SetVringCall,
            _ => VhostIoctl.SetVringErr,
        };
        int number = fd switch
        {
            VhostMirrorFd.Kick => _kick.Fd,
            VhostMirrorFd.Call => _call.Fd,
            VhostMirrorFd.Err => _err.Fd,
            _ => -1,
        };
        return Device.SetVringFd(request, index, number);
    }

    /// <summary>lab/vhost-demo's VHOST_DEMO_SET_BACKEND: any fd but -1 attaches (the kick eventfd's number
    /// serves).</summary>
    public VhostResult SetBackend(bool running) => Device.SetBackend(0, running ? _kick.Fd : -1);

    public void Kick(GuestMemory memory)
    {
        // Let a worker still running from an earlier kick finish before its memory is overwritten.
        Device.Flush();
        for (int i = 0; i < _regions.Length; i++)
        {
            memory.TryRead(new GuestAddress(_regions[i].GuestPhysAddr), _mappings[i].Bytes);
        }
        _kick.Signal();
    }

    public void Flush() => Device.Flush();

    public void Dispose()
    {
        End();
        foreach (FixedMapping m in _mappings)
            m.Dispose();
        _kick.Dispose();
        _call.Dispose();
        _err.Dispose();
    }
}
