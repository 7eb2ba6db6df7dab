namespace Sim.Devices;

/// <summary>
/// Told by a device handler when it reaches a <see cref="HandlerPoint"/>; a fuzz target lets the guest act there, as
/// chosen by its input, so races inside a handler become reachable while the simulation stays deterministic (no
/// threads: the guest's steps run inside the call). Null (the default) costs one test per point.
/// </summary>
public interface IHandlerInterleaving
{
    /// <summary>The handler is at <paramref name="point"/>; the guest may act before this returns.</summary>
    void At(HandlerPoint point);
}
