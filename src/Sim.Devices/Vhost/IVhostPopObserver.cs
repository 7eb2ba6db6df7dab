namespace Sim.Devices.Vhost;

/// <summary>
/// Told around every vhost_get_vq_desc of a vring and of every vq_err it raises, so a fuzz target can judge each pop
/// against a reference walk (the vhost chain oracle). Production uses <see cref="None"/>, which does nothing: the
/// vring holds a non-null observer, so there is no null test on the data path.
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

    private sealed class NoPopObserver : IVhostPopObserver
    {
        public void BeforePop(VhostVirtqueue vq) { }

        public void AfterPop(VhostVirtqueue vq, int result, int outCount, int inCount) { }

        public void VqError(VhostVirtqueue vq, VqErrorCode code) { }
    }
}
