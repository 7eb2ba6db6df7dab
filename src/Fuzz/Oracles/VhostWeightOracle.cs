using Sim.Devices.Vhost;
using Sim.Engine;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Issue 12 item 4: a vhost handler yields once it passes its weight. Linux vhost_exceeds_weight(vq, pkts, total_len)
/// is called after every request a handler completes (handle_tx_copy's <c>while (!vhost_exceeds_weight(vq,
/// ++sent_pkts, total_len))</c>); once <c>pkts &gt;= dev-&gt;weight</c> or <c>total_len &gt;= dev-&gt;byte_weight</c>
/// it requeues the vring's work (vhost_poll_queue) and the handler returns, so one kick never monopolises the worker.
/// <para>The oracle wraps the vring's handle_kick (outside device code, STYLE item 12) and judges each run by what the
/// vring counted, whatever path each request took (full, short, failed copy — every fetched chain is a packet):</para>
/// <list type="bullet">
/// <item><c>weight/chain-past-packet-weight</c>: the run fetched more than <see cref="VhostOptions.PacketWeight"/>
/// chains;</item>
/// <item><c>weight/chain-past-byte-weight</c>: it fetched another chain after the chains before it already totalled
/// <see cref="VhostOptions.ByteWeight"/> bytes (iov_length of every iovec, out and in);</item>
/// <item><c>weight/no-requeue-at-weight</c>: it reached a weight and returned without requeueing itself (work left
/// would wait for a kick the driver, which saw its buffers taken, may never send).</item>
/// </list>
/// A run that raised a vq_err is exempt from the requeue rule (Linux breaks out of the loop and leaves the vring
/// broken without requeueing).
/// </summary>
internal sealed class VhostWeightOracle : IVhostKickHandler
{
    public const string Oracle = "weight";

    private readonly IVhostKickHandler _inner;
    private readonly VhostOptions _options;

    public VhostWeightOracle(IVhostKickHandler inner, VhostOptions options)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(options);
        _inner = inner;
        _options = options;
    }

    /// <summary>Where violations are reported; null only counts them.</summary>
    public FuzzContext? Context { get; set; }

    /// <summary>Violations seen (also without a context).</summary>
    public int Violations { get; private set; }

    /// <summary>The last violation's site, or null.</summary>
    public string? LastSite { get; private set; }

    /// <summary>Wraps vring <paramref name="index"/>'s handler <paramref name="inner"/> on
    /// <paramref name="device"/>.</summary>
    public static VhostWeightOracle Install(VhostDevice device, int index, IVhostKickHandler inner)
    {
        ArgumentNullException.ThrowIfNull(device);
        var oracle = new VhostWeightOracle(inner, device.Options);
        device.SetKickHandler(index, oracle);
        return oracle;
    }

    void IVhostKickHandler.HandleKick(VhostVirtqueue vq)
    {
        long headsBefore = vq.HeadsFetched;
        ulong bytesBefore = vq.ChainBytesFetched;
        long errorsBefore = vq.VqErrors;
        _inner.HandleKick(vq);
        long chains = vq.HeadsFetched - headsBefore;
        if (chains == 0)
            return;
        ulong bytes = vq.ChainBytesFetched - bytesBefore;
        ulong bytesBeforeLast = bytes - vq.LastChainBytes;
        ulong byteWeight = Narrow.AsUInt64Bits(_options.ByteWeight);
        bool byteLimited = _options.ByteWeight != 0;
        if (chains > _options.PacketWeight)
        {
            Fire(
                "weight/chain-past-packet-weight",
                $"one handler run fetched {chains} chains; vhost_exceeds_weight must stop it after "
                    + $"{_options.PacketWeight} (VHOST_NET_PKT_WEIGHT-style packet weight)"
            );
        }
        else if (byteLimited && chains > 1 && bytesBeforeLast >= byteWeight)
        {
            Fire(
                "weight/chain-past-byte-weight",
                $"one handler run fetched another chain after {bytesBeforeLast} bytes; vhost_exceeds_weight must stop "
                    + $"it at {_options.ByteWeight} (VHOST_NET_WEIGHT-style byte weight)"
            );
        }
        else if (
            (chains >= _options.PacketWeight || (byteLimited && bytes >= byteWeight))
            && vq.VqErrors == errorsBefore
            && vq.Work is { Queued: false }
        )
        {
            Fire(
                "weight/no-requeue-at-weight",
                $"one handler run took {chains} chains ({bytes} bytes), reaching its weight (packets "
                    + $"{_options.PacketWeight}, bytes {_options.ByteWeight}), and returned without requeueing its "
                    + "work"
            );
        }
    }

    private void Fire(string site, string message)
    {
        Violations++;
        LastSite = site;
        Context?.Report(Oracle, site, message);
    }
}
