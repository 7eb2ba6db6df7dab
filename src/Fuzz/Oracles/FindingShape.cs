namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The input shape a finding is keyed by besides its site (issue 12 item 6): the byte classes of the readable and the
/// writable part of the request the device took last. Two faults ending at one oracle and site through requests of
/// different shape — a short header versus a full one, no response buffer versus one — are kept as two findings. The
/// classes follow the seed protocols' sizes: nothing, shorter than the 8-byte demo/factorial/counter request, up to the
/// 16-byte virtio-blk header, up to one 512-byte sector, more.
/// </summary>
internal static class FindingShape
{
    /// <summary>Class names, by class number (0 is "no request taken").</summary>
    private static readonly string[] Classes = ["0", "1-7", "8-15", "16-512", "513+"];

    /// <summary>Byte-count class: 0, 1..7, 8..15, 16..512, more.</summary>
    public static int Class(ulong bytes) =>
        bytes switch
        {
            0 => 0,
            < 8 => 1,
            < 16 => 2,
            <= 512 => 3,
            _ => 4,
        };

    /// <summary>A shape code: 0 for none, else 1 + readable class * 5 + writable class.</summary>
    public static int Code(ulong readableBytes, ulong writableBytes) =>
        1 + (Class(readableBytes) * Classes.Length) + Class(writableBytes);

    /// <summary>The shape's name (<c>r8-15.w0</c>), or empty for code 0.</summary>
    public static string Name(int code)
    {
        if (code <= 0 || code > Classes.Length * Classes.Length)
            return "";
        int c = code - 1;
        return "r" + Classes[c / Classes.Length] + ".w" + Classes[c % Classes.Length];
    }
}
