namespace Sim.Scenarios.Bench;

/// <summary>What one <see cref="RingBenchmark.Run"/> measured. Timestamps are in the caller's clock units
/// (<c>TimestampFrequency</c> per second).</summary>
public readonly record struct RingBenchmarkResult(
    long Requests,
    int Batch,
    int QueueSize,
    long Kicks,
    long Notifications,
    long ElapsedTimestamps,
    long TimestampFrequency,
    long AllocatedBytes,
    long Mismatches
)
{
    /// <summary>Wall time per request in nanoseconds.</summary>
    public double NsPerRequest =>
        Requests == 0 || TimestampFrequency == 0 ? 0 : ElapsedTimestamps * 1e9 / TimestampFrequency / Requests;

    /// <summary>The CLI's one-line report, ending in <c>ns_per_request=&lt;value&gt;</c> as the issue asks.</summary>
    public string ToSummaryLine() =>
        string.Create(
            System.Globalization.CultureInfo.InvariantCulture,
            $"ring requests={Requests} batch={Batch} queue_size={QueueSize} kicks={Kicks} "
                + $"notifications={Notifications} mismatches={Mismatches} allocated_bytes={AllocatedBytes} "
                + $"ns_per_request={NsPerRequest:F2}"
        );

    /// <summary>Bytes allocated on the running thread per request (target: 0).</summary>
    public double AllocatedBytesPerRequest => Requests == 0 ? 0 : (double)AllocatedBytes / Requests;
}
