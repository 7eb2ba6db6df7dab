using Sim.Machine.Kvm;

namespace Sim.Kvm;

/// <summary>The machine's irqchip in external mode, forwarded to the real one: pin GSIs (PCI INTx on the 8259)
/// with KVM_IRQ_LINE, userspace MSIs (QEMU's msix_notify → kvm_send_msi) with KVM_SIGNAL_MSI to the LAPIC at
/// 0xFEE00000 with data = vector, as docs/recording.md §2 has the guest program its MSI-X table. Each edge irqfd the
/// machine registers (the virtio transport's MSI-X vector irqfds, which the vhost worker's call eventfd is) gets a
/// real KVM_IRQFD on a real eventfd: an MSI GSI through a KVM_SET_GSI_ROUTING MSI route (QEMU
/// kvm_irqchip_add_msi_route + kvm_irqchip_add_irqfd_notifier_gsi), a pin GSI through the irqchip's default route;
/// its injections are writes to that eventfd, consumed in the kernel by irqfd_wakeup, as vhost_signal's
/// eventfd_signal is. Resampling (level) irqfds are not mirrored: their EOI happens in the real irqchip, where the
/// machine cannot see it, so they stay on KVM_IRQ_LINE. Called under the recorder's lock.</summary>
internal sealed class KvmIrqForwarder(KvmVm vm) : IExternalIrqChip, IDisposable
{
    public const ulong MsiAddress = 0xFEE0_0000;

    private readonly Dictionary<uint, RealIrqFd> _irqFds = new();
    private readonly Dictionary<uint, uint> _msiRoutes = new(); // GSI → irqfds routed through it
    private readonly HashSet<uint> _observed = new(); // irqfds a real device signals itself (direct kernel vhost)

    public long Sent { get; private set; }

    /// <summary>MSIs the guest's LAPIC did not accept (KVM_SIGNAL_MSI returned 0).</summary>
    public long MsisBlocked { get; private set; }

    /// <summary>Injections written to a real irqfd's eventfd.</summary>
    public long IrqFdSignals { get; private set; }

    /// <summary>Real KVM_IRQFD registrations made (each with its eventfd).</summary>
    public int IrqFdsAssigned { get; private set; }

    public void SetLine(uint gsi, bool level)
    {
        vm.SetIrqLine(gsi, level);
        if (level)
            Sent++;
    }

    public void Pulse(uint gsi, uint vector)
    {
        if (vm.SignalMsi(MsiAddress, vector) == 0)
            MsisBlocked++;
        Sent++;
    }

    public void IrqFdRegistered(uint id, uint gsi, bool resample)
    {
        if (resample || _irqFds.ContainsKey(id))
            return;
        bool msi = gsi >= GsiRoute.DefaultPinGsis;
        if (msi)
        {
            _msiRoutes[gsi] = _msiRoutes.GetValueOrDefault(gsi) + 1;
            InstallRoutes();
        }
        var fd = new HostEventFd();
        try
        {
            vm.IrqFd(fd, gsi, deassign: false);
        }
        catch (KvmException)
        {
            fd.Dispose();
            throw;
        }
        _irqFds[id] = new RealIrqFd(fd, gsi, msi);
        IrqFdsAssigned++;
    }

    public void IrqFdUnregistered(uint id)
    {
        if (!_irqFds.Remove(id, out RealIrqFd? r))
            return;
        vm.IrqFd(r.Fd, r.Gsi, deassign: true);
        r.Fd.Dispose();
        if (!r.Msi)
            return;
        if (--_msiRoutes[r.Gsi] == 0)
            _msiRoutes.Remove(r.Gsi);
        InstallRoutes();
    }

    /// <summary>Injections the machine recorded on an observed irqfd: the real device had signalled the real
    /// eventfd itself, so nothing was written.</summary>
    public long IrqFdsObservedInjections { get; private set; }

    /// <summary>The real eventfd behind the machine's irqfd <paramref name="id"/> (null: not mirrored), for a real
    /// device to signal straight into KVM (VHOST_SET_VRING_CALL, as QEMU wires vhost's call).</summary>
    public HostEventFd? RealIrqFdOf(uint id) => _irqFds.TryGetValue(id, out RealIrqFd? r) ? r.Fd : null;

    /// <summary>With <paramref name="observed"/>, the machine's injections on irqfd <paramref name="id"/> are
    /// recorded but not written to the real eventfd: a real device (the direct-wired kernel vhost) signals it
    /// itself, and the recorder only reports what it counted.</summary>
    public void SetObserved(uint id, bool observed)
    {
        if (observed)
            _observed.Add(id);
        else
            _observed.Remove(id);
    }

    public void IrqFdInject(uint id, uint gsi, uint vector)
    {
        if (_observed.Contains(id))
        {
            IrqFdsObservedInjections++;
            return;
        }
        if (!_irqFds.TryGetValue(id, out RealIrqFd? r))
        {
            Pulse(gsi, vector);
            return;
        }
        r.Fd.Signal();
        IrqFdSignals++;
        Sent++;
    }

    /// <summary>The default pin routes plus one MSI route per GSI in use, address 0xFEE00000 and data = the GSI's
    /// vector (what the guest programs into the MSI-X entry: data = 0x20 + GSI), in GSI order.</summary>
    private void InstallRoutes()
    {
        List<GsiRoute> routes = GsiRoute.DefaultPins();
        foreach (uint gsi in _msiRoutes.Keys.Order())
            routes.Add(GsiRoute.Msi(gsi, MsiAddress, InterruptController.VectorOf(gsi)));
        vm.SetGsiRouting(routes.ToArray());
    }

    public void Dispose()
    {
        foreach (RealIrqFd r in _irqFds.Values)
            r.Fd.Dispose();
        _irqFds.Clear();
    }

    private sealed record RealIrqFd(HostEventFd Fd, uint Gsi, bool Msi);
}
