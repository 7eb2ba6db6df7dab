namespace Sim.Devices;

/// <summary>
/// Points inside a device's queue handler where, on real hardware, the guest runs concurrently with the device (another
/// vCPU) and can publish, kick or change suppression. The simulation runs a handler atomically on its event loop, so a
/// race in these windows is reachable only when a scheduler is told of them (<see cref="IHandlerInterleaving"/>;
/// issue 12 item 3).
/// </summary>
public enum HandlerPoint : byte
{
    /// <summary>After the handler's last empty pop, before it re-enables notifications and re-checks avail.idx
    /// (Linux vhost_enable_notify's race, VIRTIO 1.2 §2.7.10): a chain published here without a kick (the driver sees
    /// NO_NOTIFY) is lost unless the re-check finds it.</summary>
    BeforeEnableNotify,

    /// <summary>After the used entries are written, before used.idx publishes them (QEMU virtqueue_fill /
    /// virtqueue_flush; Linux __vhost_add_used_n then put_user(used-&gt;idx)).</summary>
    BetweenFillAndFlush,

    /// <summary>After used.idx is published, before the device decides whether to interrupt (QEMU virtio_notify →
    /// virtio_should_notify; Linux vhost_signal → vhost_notify), which reads the driver's suppression words.</summary>
    BeforeInterruptDecision,
}
