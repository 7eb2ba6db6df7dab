namespace Sim.Devices.Vhost;

/// <summary>
/// Told around every vhost_get_vq_desc of a vring, around every vhost_disable_notify / vhost_enable_notify, and of
/// every vq_err it raises, so a fuzz target can judge each pop against a reference walk (the vhost chain oracle) and
/// each notification change's vq_errs (a vq_err raised outside a pop). Production uses <see cref="None"/>, which
/// does nothing: the vring holds a non-null observer, so there is no null test on the data path.
/// </summary>
public interface IVhostPopObserver
{
    /// <summary>The observer that does nothing (production).</summary>
    public static IVhostPopObserver None { get; } = new NoPopObserver();

    /// <summary>vhost_get_vq_desc of <paramref name="vq"/> starts; nothing was read yet.</summary>
    void BeforePop(VhostVirtqueue vq);

    /// <summary>vhost_get_vq_desc of <paramref name="vq"/> returned <paramref name="result"/> (a head,
    /// <see cref="VhostVirtqueue.Num"/> for none, or -errno) with <paramref name="outCount"/> readable and
    /// <paramref name="inCount"/> writable iovecs.</summary>
    void AfterPop(VhostVirtqueue vq, int result, int outCount, int inCount);

    /// <summary>vq_err(<paramref name="code"/>) was raised on <paramref name="vq"/>.</summary>
    void VqError(VhostVirtqueue vq, VqErrorCode code);

    /// <summary>vhost_disable_notify of <paramref name="vq"/> starts (nothing changed yet); a fuzz target's oracle
    /// judges the vq_errs raised until <see cref="AfterNotifyChange"/>.</summary>
    void BeforeDisableNotify(VhostVirtqueue vq) { }

    /// <summary>vhost_enable_notify of <paramref name="vq"/> starts (nothing changed yet).</summary>
    void BeforeEnableNotify(VhostVirtqueue vq) { }

    /// <summary>The vhost_disable_notify or vhost_enable_notify of <paramref name="vq"/> announced last
    /// returned.</summary>
    void AfterNotifyChange(VhostVirtqueue vq) { }

    private sealed class NoPopObserver : IVhostPopObserver
    {
        public void BeforePop(VhostVirtqueue vq) { }

        public void AfterPop(VhostVirtqueue vq, int result, int outCount, int inCount) { }

        public void VqError(VhostVirtqueue vq, VqErrorCode code) { }
    }
}
