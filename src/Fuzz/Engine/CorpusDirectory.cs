using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Engine;

/// <summary>
/// A corpus directory: every readable file is an input (unreadable ones are skipped with a warning); new
/// inputs are added under their content hash, written atomically (temporary file, then a rename that never
/// replaces). Nothing here ever deletes or overwrites a user's file.
/// </summary>
internal static class CorpusDirectory
{
    /// <summary>Loads all regular files in ordinal name order (deterministic), skipping dot-files (ours in
    /// flight) and anything else with a warning: a FIFO would block the campaign at start (opening it waits for a
    /// writer), a device could be endless. Files longer than <paramref name="lengthMax"/> are truncated with a
    /// warning, and only their first <paramref name="lengthMax"/> bytes are read, so a huge file costs no more
    /// memory than an input may hold.</summary>
    public static List<byte[]> Load(string directory, int lengthMax, TextWriter? warnings)
    {
        var inputs = new List<byte[]>();
        if (!Directory.Exists(directory))
            return inputs;
        string[] files = Directory.GetFiles(directory);
        Array.Sort(files, StringComparer.Ordinal);
        foreach (string file in files)
        {
            if (Path.GetFileName(file).StartsWith('.'))
                continue;
            if (FileKinds.Of(file, followLinks: true) != FileKind.Regular)
            {
                warnings?.WriteLine(
                    $"warning: corpus entry {file} is not a regular file (a FIFO, socket, device or "
                        + "dangling link), ignored"
                );
                continue;
            }
            byte[]? data = TryReadPrefix(file, lengthMax, warnings);
            if (data is not null)
                inputs.Add(data);
        }
        return inputs;
    }

    private static byte[]? TryReadPrefix(string file, int lengthMax, TextWriter? warnings)
    {
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read);
            long length = stream.Length;
            if (length > lengthMax)
                warnings?.WriteLine($"warning: corpus file {file} has {length} bytes; using the first {lengthMax}");
            byte[] data = new byte[Math.Min(length, lengthMax)];
            stream.ReadExactly(data);
            return data;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warnings?.WriteLine($"warning: corpus file {file} is unreadable, ignored: {e.Message}");
            return null;
        }
    }

    /// <summary>16 hex digits of a stable content hash: the file name of a saved input.</summary>
    public static string ContentName(ReadOnlySpan<byte> data) => StableHash64.Of(data).ToString("x16");

    /// <summary>Saves <paramref name="data"/> as <c>&lt;directory&gt;/&lt;content hash&gt;</c> unless a file of
    /// that name exists. Returns the path written, or null when it already existed.</summary>
    public static string? Save(string directory, ReadOnlySpan<byte> data)
    {
        Directory.CreateDirectory(directory);
        string name = ContentName(data);
        string path = Path.Combine(directory, name);
        if (File.Exists(path))
            return null;
        return AtomicFile.TryCreate(path, data) ? path : null;
    }
}
