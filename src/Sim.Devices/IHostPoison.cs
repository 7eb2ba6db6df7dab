namespace Sim.Devices;

/// <summary>
/// Fills the host buffers a device reuses from one request to the next (its request header, response and data
/// scratch) before each request, so a device that answers from bytes it never set for this request (the previous
/// request's values, a field never copied because the guest's readable buffer was short) answers with a pattern an
/// oracle recognises. C# zero-initialises, so without this such a device would answer zeros and look correct. A
/// fuzz target's taint oracle installs it; null (the default, production) costs one test per request and leaves the
/// buffers as the device left them.
/// </summary>
public interface IHostPoison
{
    /// <summary>Overwrites <paramref name="buffer"/> with the poison pattern.</summary>
    void Fill(Span<byte> buffer);
}
