namespace Virtsim.Fuzz.Engine;

/// <summary>Creates files and directories so that readers see all or nothing and an existing path is never
/// replaced: write under a dot-prefixed temporary name beside the target, then rename without overwrite.</summary>
internal static class AtomicFile
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
            if (Directory.Exists(temp))
                Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>Removes what a killed process left in <paramref name="directory"/>: temporary files and directories
    /// named by <see cref="TempNameBeside"/> whose process no longer runs (a live one's are still in flight).
    /// Returns how many were removed. Only names of that exact form are touched, never a user's file.</summary>
    public static int RemoveStale(string directory)
    {
        if (!Directory.Exists(directory))
            return 0;
        int removed = 0;
        foreach (string entry in Directory.EnumerateFileSystemEntries(directory, ".*.tmp-*"))
        {
            if (!TryParseTempOwner(Path.GetFileName(entry), out int pid) || ProcessIsAlive(pid))
                continue;
            if (Directory.Exists(entry))
                Directory.Delete(entry, recursive: true);
            else
                File.Delete(entry);
            removed++;
        }
        return removed;
    }

    /// <summary>The process id in a name of the form <c>.&lt;name&gt;.tmp-&lt;pid&gt;-&lt;n&gt;</c>.</summary>
    public static bool TryParseTempOwner(string fileName, out int pid)
    {
        pid = 0;
        int tmp = fileName.LastIndexOf(".tmp-", StringComparison.Ordinal);
        if (!fileName.StartsWith('.') || tmp <= 1)
            return false;
        string[] parts = fileName[(tmp + 5)..].Split('-');
        return parts.Length == 2
            && int.TryParse(
                parts[0],
                System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture,
                out pid
            )
            && int.TryParse(
                parts[1],
                System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture,
                out _
            );
    }

    private static bool ProcessIsAlive(int pid)
    {
        if (pid == Environment.ProcessId)
            return true;
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
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
