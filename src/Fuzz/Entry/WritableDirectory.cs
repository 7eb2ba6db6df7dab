namespace Virtsim.Fuzz.Entry;

/// <summary>
/// Checks, before a campaign starts, that a directory the fuzzer will write into (corpus, findings, the
/// instrumentation cache, the directory of an <c>--out</c> file) can be written: it must be a directory or not exist
/// yet, and its nearest existing ancestor must accept a new file (a probe file is created and deleted there). Without
/// this, <c>/proc/x</c> or a plain file passed as <c>--findings</c> was accepted and the first finding was lost when
/// its save threw. Nothing is created except the probe, so a campaign that never writes leaves no directory behind.
/// </summary>
internal static class WritableDirectory
{
    /// <summary>Ancestors walked before giving up (paths deeper than this are not real user paths).</summary>
    private const int AncestorsMax = 4096;

    private static int _probeCounter;

    /// <summary>Null when <paramref name="path"/> can be used as a writable directory; otherwise a one-line reason
    /// naming <paramref name="option"/>.</summary>
    public static string? Check(string path, string option)
    {
        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return $"{option} '{path}' is not a usable path: {e.Message}";
        }
        if (File.Exists(full))
            return $"{option} '{path}' is a file; it must be a directory";
        string existing = full;
        for (int i = 0; !Directory.Exists(existing); i++)
        {
            string? parent = Path.GetDirectoryName(existing);
            if (parent is null || i >= AncestorsMax)
                return $"{option} '{path}': no existing directory above it";
            if (File.Exists(parent))
                return $"{option} '{path}': '{parent}' is a file, not a directory";
            existing = parent;
        }
        string probe = Path.Combine(
            existing,
            $".virtsim-probe-{Environment.ProcessId}-{Interlocked.Increment(ref _probeCounter)}"
        );
        try
        {
            using (
                new FileStream(
                    probe,
                    FileMode.CreateNew,
                    FileAccess.Write,
                    FileShare.None,
                    1,
                    FileOptions.DeleteOnClose
                )
            ) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string where =
                existing == full ? "" : $" (its nearest existing directory '{existing}' does not accept new files)";
            return $"{option} '{path}' is not writable{where}: {e.Message}";
        }
        finally
        {
            if (File.Exists(probe))
                File.Delete(probe);
        }
        return null;
    }
}
