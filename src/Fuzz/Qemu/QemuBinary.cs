namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Finds the QEMU this backend drives: <c>$VIRTSIM_QEMU</c> when set, else <c>qemu-system-x86_64</c> on <c>PATH</c>
/// (Debian's package <c>qemu-system-x86</c>, which <c>scripts/install-deps</c> installs). The differential table
/// (<see cref="Qemu72Differences"/>) is written for QEMU 7.2; <see cref="Version"/> says what was found.
/// </summary>
internal static class QemuBinary
{
    public const string EnvironmentVariable = "VIRTSIM_QEMU";
    public const string ProgramName = "qemu-system-x86_64";

    /// <summary>The binary's path, or null when there is none (then <see cref="MissingReason"/> says why).</summary>
    public static string? Find()
    {
        string? forced = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(forced))
            return File.Exists(forced) ? forced : null;
        string? path = Environment.GetEnvironmentVariable("PATH");
        if (path is null)
            return null;
        foreach (string dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, ProgramName);
            if (File.Exists(candidate))
                return candidate;
        }
        return null;
    }

    /// <summary>One line for a skipped test or a refused campaign.</summary>
    public static string MissingReason =>
        $"{ProgramName} not found (set ${EnvironmentVariable} or run scripts/install-deps, which installs Debian's "
        + "qemu-system-x86)";
}
