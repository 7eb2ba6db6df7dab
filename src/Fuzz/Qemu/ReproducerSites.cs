namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The standalone reproducers one real-QEMU target has written, one per finding site: a campaign's minimiser re-runs a
/// finding's input hundreds of times and each reproducer costs a fresh QEMU, so only the first input that fired at a
/// site is recorded (<c>&lt;directory&gt;/&lt;input content name&gt;/</c>, see <see cref="QemuReproducer"/>).
/// Shared by <see cref="VirtioBlkQemuTarget"/> and <see cref="VirtioRngQemuTarget"/>.
/// </summary>
internal sealed class ReproducerSites
{
    private readonly Dictionary<string, string> _written = new(StringComparer.Ordinal);

    /// <summary>Writes the reproducer of <paramref name="input"/> for <paramref name="site"/> through
    /// <paramref name="write"/> (input, directory) unless one exists, and returns the line naming it; "" when
    /// <paramref name="directory"/> is null.</summary>
    public string Line(string? directory, string site, ReadOnlySpan<byte> input, Action<byte[], string> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (directory is null)
            return "";
        if (_written.TryGetValue(site, out string? earlier))
        {
            return $"\nstandalone reproducer: {earlier}/run.sh (of the first input that fired here)";
        }
        string dir = Path.Combine(directory, Engine.CorpusDirectory.ContentName(input));
        _written[site] = dir;
        if (Directory.Exists(dir))
            return $"\nstandalone reproducer: {dir}/run.sh";
        write(input.ToArray(), dir);
        return $"\nstandalone reproducer: {dir}/run.sh (QEMU command line + qtest script, no virtsim needed)";
    }
}
