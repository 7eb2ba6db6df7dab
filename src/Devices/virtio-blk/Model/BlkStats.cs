namespace Sim.Devices.Virtio.Blk;

/// <summary>What a <see cref="VirtioBlkDevice"/> has done (host-side counters for reports and tests).</summary>
public sealed class BlkStats
{
    /// <summary>Requests completed (pushed), any status.</summary>
    public long Requests { get; internal set; }

    /// <summary>IN requests completed with OK.</summary>
    public long Reads { get; internal set; }

    /// <summary>OUT requests completed with OK.</summary>
    public long Writes { get; internal set; }

    /// <summary>FLUSH requests completed with OK.</summary>
    public long Flushes { get; internal set; }

    /// <summary>GET_ID requests completed with OK.</summary>
    public long GetIds { get; internal set; }

    /// <summary>Requests completed with IOERR.</summary>
    public long IoErrors { get; internal set; }

    /// <summary>Requests completed with UNSUPP.</summary>
    public long Unsupported { get; internal set; }

    /// <summary>Bytes copied from the disk to the guest.</summary>
    public long BytesRead { get; internal set; }

    /// <summary>Bytes copied from the guest to the disk.</summary>
    public long BytesWritten { get; internal set; }

    /// <summary>Requests that broke the device (malformed: missing headers, header or status too short).</summary>
    public long Malformed { get; internal set; }

    /// <inheritdoc/>
    public override string ToString() =>
        FormattableString.Invariant(
            $"requests={Requests} reads={Reads} writes={Writes} flushes={Flushes} get_ids={GetIds} ioerr={IoErrors} "
        )
        + FormattableString.Invariant(
            $"unsupp={Unsupported} bytes_read={BytesRead} bytes_written={BytesWritten} malformed={Malformed}"
        );
}
