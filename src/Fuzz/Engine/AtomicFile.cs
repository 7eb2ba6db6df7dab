namespace Fuzz.Engine;

/// <summary>Creates files and directories so that readers see all or nothing and an existing path is never
/// replaced: write under a dot-prefixed temporary name beside the target, then rename without overwrite.</summary>
public static class AtomicFile
{
    private static int _counter;

    /// <summary>Creates <paramref name="path"/> holding <paramref name="data"/>; false (and nothing left
    /// behind) when the path already exists.</summary>
    public static bool TryCreate(string path, ReadOnlySpan<byte> data)
    {
        string temp = TempNameBeside(path);
        using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write(data);
            stream.Flush(flushToDisk: true);
        }
        try
        {
            File.Move(temp, path, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(path) || Directory.Exists(path))
        {
            File.Delete(temp);
            return false;
        }
    }

    /// <summary>Fills a fresh temporary directory with <paramref name="fill"/> and renames it to
    /// <paramref name="path"/>; false (temporary directory removed) when the path already exists.</summary>
    public static bool TryCreateDirectory(string path, Action<string> fill)
    {
        string temp = TempNameBeside(path);
        Directory.CreateDirectory(temp);
        try
        {
            fill(temp);
            if (Directory.Exists(path) || File.Exists(path))
            {
                Directory.Delete(temp, recursive: true);
                return false;
            }
            Directory.Move(temp, path);
            return true;
        }
        catch (IOException) when (Directory.Exists(path) || File.Exists(path))
        {
            Directory.Delete(temp, recursive: true);
            return false;
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>A dot-prefixed name in the same directory (same filesystem, so the rename is atomic).</summary>
    public static string TempNameBeside(string path)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        int n = Interlocked.Increment(ref _counter);
        return Path.Combine(dir, $".{Path.GetFileName(path)}.tmp-{Environment.ProcessId}-{n}");
    }
}
