namespace Virtsim.Fuzz.Qemu;

/// <summary>What the rng lockstep saw during one input, for the rows of <see cref="RngQemu72Differences"/>.</summary>
public sealed class RngRunFacts
{
    public bool ModelEverBroken { get; set; }

    public List<string> ModelBrokenReasons { get; } = [];

    /// <summary>Chains the robust model refused because they held driver-readable buffers (used.len 0).</summary>
    public long Refused { get; set; }

    public bool UnalignedRegisterWrite { get; set; }

    public bool DriverWroteStatus { get; set; }

    public bool QueueSizeRewritten { get; set; }

    public bool KickBeforeDriverOk { get; set; }

    public bool RingsOverlap { get; set; }

    public bool BuffersOverlapInKick { get; set; }

    /// <summary>At a DRIVER_OK write the available ring already held a non-zero idx (left by an earlier initialisation).</summary>
    public bool StaleAvailAtDriverOk { get; set; }

    public void Clear()
    {
        ModelEverBroken = false;
        ModelBrokenReasons.Clear();
        Refused = 0;
        UnalignedRegisterWrite = false;
        DriverWroteStatus = false;
        QueueSizeRewritten = false;
        KickBeforeDriverOk = false;
        RingsOverlap = false;
        BuffersOverlapInKick = false;
        StaleAvailAtDriverOk = false;
    }
}
