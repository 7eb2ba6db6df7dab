using System.Buffers.Binary;

namespace Sim.Devices.Virtio.Demo;

/// <summary>
/// The robust demo request rule, shared by the QEMU-style virtio-demo device and the robust
/// vhost-demo backend so that the differential property (same guest-visible results on both
/// paths) rests on one definition. Request: {opt le32, buff le32}; opt 0 reads the device's value,
/// opt 1 stores it, any other opt echoes the request and changes nothing (seed 000's "opt: error!"
/// path). Response: {opt le32, value le32}.
/// </summary>
public static class DemoProtocol
{
    /// <summary>Request bytes: opt (le32) + buff (le32).</summary>
    public const int RequestSize = 8;

    /// <summary>Response bytes: opt (le32) + value (le32).</summary>
    public const int ResponseSize = 8;

    /// <summary>Applies <paramref name="request"/> to <paramref name="state"/> and fills
    /// <paramref name="response"/>. Returns the opt, and whether it was one the device knows.</summary>
    public static uint Apply(
        ref uint state,
        ReadOnlySpan<byte> request,
        Span<byte> response,
        out uint answer,
        out bool knownOpt
    )
    {
        uint opt = BinaryPrimitives.ReadUInt32LittleEndian(request);
        uint buff = BinaryPrimitives.ReadUInt32LittleEndian(request[4..]);
        knownOpt = true;
        switch (opt)
        {
            case 0:
                answer = state;
                break;
            case 1:
                state = buff;
                answer = buff;
                break;
            default:
                knownOpt = false;
                answer = buff;
                break;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(response, opt);
        BinaryPrimitives.WriteUInt32LittleEndian(response[4..], answer);
        return opt;
    }
}
