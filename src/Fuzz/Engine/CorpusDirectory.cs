using Sim.Engine.Memory;

namespace Virtsim.Fuzz.Engine;

/// <summary>
/// A corpus directory: every readable file is an input (unreadable ones are skipped with a warning); new
/// inputs are added under their content hash, written atomically (temporary file, then a rename that never
/// replaces). Nothing here ever deletes or overwrites a user's file.
/// </summary>
public static class CorpusDirectory
{
    /// <summary>Loads all files in ordinal name order (deterministic), skipping dot-files (ours in flight).
    /// Files longer than <paramref name="lengthMax"/> are truncated with a warning.</summary>
    public static List<byte[]> Load(string directory, int lengthMax, TextWriter? warnings)
    {
        var inputs = new List<byte[]>();
        if (!Directory.Exists(directory)) return inputs;
        string[] files = Directory.GetFiles(directory);
        Array.Sort(files, StringComparer.Ordinal);
        foreach (string file in files)
        {
            if (Path.GetFileName(file).StartsWith('.')) continue;
            byte[] data;
            try
            {
                data = File.ReadAllBytes(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                warnings?.WriteLine($"warning: corpus file {file} is unreadable, ignored: {e.Message}");
                continue;
            }
            if (data.Length > lengthMax)
            {
                warnings?.WriteLine($"warning: corpus file {file} has {data.Length} bytes; using the first {lengthMax}");
                data = data.AsSpan(0, lengthMax).ToArray();
            }
            inputs.Add(data);
        }
        return inputs;
    }

    /// <summary>16 hex digits of a stable content hash: the file name of a saved input.</summary>
    public static string ContentName(ReadOnlySpan<byte> data)
    {
        var h = new StableHash64();
        h.Add(data);
        return h.Finish().ToString("x16");
    }

    /// <summary>Saves <paramref name="data"/> as <c>&lt;directory&gt;/&lt;content hash&gt;</c> unless a file of
    /// that name exists. Returns the path written, or null when it already existed.</summary>
    public static string? Save(string directory, ReadOnlySpan<byte> data)
    {
        Directory.CreateDirectory(directory);
        string name = ContentName(data);
        string path = Path.Combine(directory, name);
        if (File.Exists(path)) return null;
        return AtomicFile.TryCreate(path, data) ? path : null;
    }
}
