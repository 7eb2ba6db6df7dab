namespace Virtsim.Fuzz.Qemu;

/// <summary>What the net lockstep saw during one input, for the rows of <see cref="NetQemu72Differences"/>: the
/// shared <see cref="LockstepFacts"/> plus the net model's own.</summary>
internal sealed class NetRunFacts : LockstepFacts
{
    /// <summary>Frames the model took from its source link, each sent to QEMU's socket netdev too.</summary>
    public long FramesInjected { get; set; }

    /// <summary>Frames the model delivered into receive chains.</summary>
    public long FramesReceived { get; set; }

    /// <summary>Frames the robust model dropped because they did not fit their chain (used.len 0).</summary>
    public long ReceiveDropped { get; set; }

    /// <summary>Frames the robust model dropped after the last kick at which it was broken (all of them when it never
    /// broke). A break ends what a drop set off: the driver must reset the device to go on, and the reset (status 0 on
    /// both halves) gives QEMU 7.2's left chain back to the driver (virtio_reset: last_avail_idx 0).</summary>
    public long ReceiveDroppedSinceBreak { get; set; }

    /// <summary>Frames the model put on its link (transmitq1).</summary>
    public long FramesSent { get; set; }

    /// <summary>Datagrams QEMU sent to our socket during the input.</summary>
    public long QemuFramesSent { get; set; }

    /// <summary>Frames the input itself made arrive (op 13,
    /// <see cref="Targets.Rings.RingInput.OpInjectFrame"/>).</summary>
    public long InputFrames { get; set; }

    public override void Clear()
    {
        base.Clear();
        FramesSent = 0;
        QemuFramesSent = 0;
        FramesInjected = 0;
        FramesReceived = 0;
        ReceiveDropped = 0;
        ReceiveDroppedSinceBreak = 0;
        InputFrames = 0;
    }
}
