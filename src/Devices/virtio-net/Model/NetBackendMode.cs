namespace Sim.Devices.Virtio.Net;

/// <summary>What a <see cref="NetBackend"/> does with the frames the device transmits.</summary>
public enum NetBackendMode : byte
{
    /// <summary>Loopback: every transmitted frame comes back as a received frame.</summary>
    Echo = 0,

    /// <summary>Sink: transmitted frames are counted and dropped; only injected frames are received.</summary>
    Sink = 1,

    /// <summary>Source (fuzzing): a frame is always waiting, from a fixed cycle of lengths, so every receive chain
    /// the driver offers gets one; transmitted frames are counted and dropped.</summary>
    Source = 2,
}
