namespace Virtsim.Fuzz.Qemu;

/// <summary>What the rng lockstep saw during one input, for the rows of <see cref="RngQemu72Differences"/>: the
/// shared <see cref="LockstepFacts"/> plus the rng model's own.</summary>
internal sealed class RngRunFacts : LockstepFacts
{
    /// <summary>Chains the robust model refused because they held driver-readable buffers (used.len 0).</summary>
    public long Refused { get; set; }

    /// <summary>At a DRIVER_OK write the available ring already held a non-zero idx (left by an earlier
    /// initialisation).</summary>
    public bool StaleAvailAtDriverOk { get; set; }

    public override void Clear()
    {
        base.Clear();
        Refused = 0;
        StaleAvailAtDriverOk = false;
    }
}
