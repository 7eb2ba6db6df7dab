using Sim.Machine.Kvm;

namespace Sim.Kvm;

/// <summary>
/// Holds a real KVM_IOEVENTFD, on its own real eventfd, for each ioeventfd the machine registers (so the host
/// thread knows which registration a wake-up belongs to), and removes it when the machine does. A registration
/// KVM refuses is counted and left out: the guest's writes to it then exit to userspace, where the machine's own
/// match signals the same eventfd. Called under the recorder's lock.
/// </summary>
internal sealed class IoEventFdMirror : IIoEventFdMirror, IDisposable
{
    /// <summary>Most registrations over a run (each holds an eventfd until the end).</summary>
    public const int RegistrationsMax = 4096;

    private readonly KvmVm _vm;
    private readonly HostPoller _poller;
    private readonly List<Registration> _registrations = new();

    public IoEventFdMirror(KvmVm vm, HostPoller poller)
    {
        _vm = vm;
        _poller = poller;
    }

    public int Refused { get; private set; }

    public int Count => _registrations.Count;

    /// <summary>The registration a poller token names, or null.</summary>
    public Registration? Find(ulong token) => token < (ulong)_registrations.Count ? _registrations[(int)token] : null;

    public void OnRegistered(BusKind bus, ulong address, int length, ulong? dataMatch, EventFd fd)
    {
        if (_registrations.Count >= RegistrationsMax)
        {
            Refused++;
            return;
        }
        var real = new HostEventFd();
        if (!_vm.TryIoEventFd(bus == BusKind.Pio, address, length, dataMatch, real, deassign: false, out _))
        {
            real.Dispose();
            Refused++;
            return;
        }
        var registration = new Registration(bus, address, length, dataMatch, fd, real);
        _registrations.Add(registration);
        _poller.Add(real, (ulong)(_registrations.Count - 1));
    }

    public void OnUnregistered(BusKind bus, ulong address, int length, ulong? dataMatch, EventFd fd)
    {
        foreach (Registration r in _registrations)
        {
            if (
                !r.Active
                || r.Bus != bus
                || r.Address != address
                || r.Length != length
                || r.DataMatch != dataMatch
                || !ReferenceEquals(r.SimFd, fd)
            )
                continue;
            _vm.TryIoEventFd(bus == BusKind.Pio, address, length, dataMatch, r.Real, deassign: true, out _);
            if (!r.Detached)
                _poller.Remove(r.Real);
            r.Active = false;
            return;
        }
    }

    /// <summary>The active registration of the machine's eventfd <paramref name="simFd"/>, taken off the poller: a
    /// real device (the direct-wired kernel vhost's VHOST_SET_VRING_KICK) polls its real eventfd instead, and the
    /// recorder reads its counter only at its own looks. Null when none is active.</summary>
    public Registration? Detach(EventFd simFd)
    {
        foreach (Registration r in _registrations)
        {
            if (!r.Active || r.Detached || !ReferenceEquals(r.SimFd, simFd))
                continue;
            _poller.Remove(r.Real);
            r.Detached = true;
            return r;
        }
        return null;
    }

    /// <summary>Back on the poller (the device let go of it), while the machine still has it registered.</summary>
    public void Reattach(Registration r)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (!r.Detached)
            return;
        r.Detached = false;
        if (r.Active)
            _poller.Add(r.Real, (ulong)_registrations.IndexOf(r));
    }

    public void Dispose()
    {
        foreach (Registration r in _registrations)
            r.Real.Dispose();
    }

    /// <summary>One mirrored registration.</summary>
    internal sealed class Registration(
        BusKind bus,
        ulong address,
        int length,
        ulong? dataMatch,
        EventFd simFd,
        HostEventFd real
    )
    {
        public BusKind Bus { get; } = bus;

        public ulong Address { get; } = address;

        /// <summary>0: any write to the address (KVM_IOEVENTFD with len 0).</summary>
        public int Length { get; } = length;

        public ulong? DataMatch { get; } = dataMatch;

        public EventFd SimFd { get; } = simFd;

        public HostEventFd Real { get; } = real;

        public bool Active { get; set; } = true;

        /// <summary>Off the poller (<see cref="IoEventFdMirror.Detach"/>).</summary>
        public bool Detached { get; set; }

        /// <summary>The access the kick stands for: a length-0 registration is a virtio notify, whose write is the
        /// 16-bit queue index (VIRTIO 1.2 §4.1.4.4), so it is recorded as a 2-byte write of the datamatch (or
        /// 0).</summary>
        public int KickSize => Length == 0 ? 2 : Length;

        public ulong KickValue => DataMatch ?? 0;
    }
}
