using Sim.Machine.Simulation;

namespace Sim.Scenarios.Ping;

/// <summary>Addresses and numbers the ping scenario's guest and host sides agree on.</summary>
internal static class PingLayout
{
    /// <summary>The doorbell register (an MMIO page outside RAM, like a virtio notify BAR).</summary>
    public const ulong DoorbellAddress = 0xFEB0_0000;

    public const ulong DoorbellPageSize = 0x1000;

    /// <summary>Value of a fast-path kick: the ioeventfd's DATAMATCH (queue index 0).</summary>
    public const ulong KickValue = 0;

    /// <summary>Shared page: u32 requests posted by the guest (le32).</summary>
    public const ulong PostedAddress = 0x1000;

    /// <summary>Shared page: u32 requests completed by the backend (le32).</summary>
    public const ulong CompletedAddress = 0x1004;

    /// <summary>Responses: u32 per request, slot = request % ResponseSlots.</summary>
    public const ulong ResponsesAddress = 0x2000;

    public const uint ResponseSlots = 256;

    /// <summary>GSI of the backend's irqfd.</summary>
    public const uint CompletionGsi = 5;

    /// <summary>GSI of the host timer's direct line.</summary>
    public const uint TimerGsi = 8;

    /// <summary>Trace Source of the backend worker (ContextSwitch, DeviceRead/DeviceWrite).</summary>
    public const uint BackendActor = 1;

    /// <summary>Debug-port value the guest writes when it is done.</summary>
    public const uint DoneMarker = 0x600D;

    /// <summary>PRNG stream of the scenario's host side.</summary>
    public const ulong HostPrngStream = 16;

    /// <summary>PRNG stream of the stale bytes the <c>stale</c> option puts in the responses page.</summary>
    public const ulong StalePrngStream = 17;
}
