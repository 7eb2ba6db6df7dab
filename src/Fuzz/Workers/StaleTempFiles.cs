namespace Virtsim.Fuzz.Workers;

/// <summary>
/// Removes what a killed process (<c>kill -9</c>, power loss) left half-written: our temporary files are
/// dot-prefixed and carry the writer's pid (<c>.name.tmp-PID[-N]</c>, <see cref="Engine.AtomicFile"/>,
/// <see cref="StatsFile"/>), so only those whose writer is gone are removed — a live worker's file in flight is
/// left alone. Nothing else is ever deleted: a rename never happened, so the temporary file is no user's data.
/// </summary>
internal static class StaleTempFiles
{
    /// <summary>Deletes stale temporary files and directories directly in <paramref name="directory"/> and
    /// (recursively) below; returns how many.</summary>
    public static int Clean(string directory)
    {
        if (!Directory.Exists(directory))
            return 0;
        int removed = 0;
        foreach (
            string path in Directory.EnumerateFileSystemEntries(directory, ".*.tmp-*", SearchOption.AllDirectories)
        )
        {
            // Called before this process writes anything: a file under its own pid is a dead namesake's.
            if (!TryWriterPid(Path.GetFileName(path), out int pid) || (pid != Environment.ProcessId && IsAlive(pid)))
                continue;
            try
            {
                if (Directory.Exists(path))
                    Directory.Delete(path, recursive: true);
                else
                    File.Delete(path);
                removed++;
            }
            catch (IOException)
            {
                // Gone meanwhile, or another worker removed it first.
            }
        }
        return removed;
    }

    /// <summary>The pid in <c>.name.tmp-PID</c> or <c>.name.tmp-PID-N</c>.</summary>
    public static bool TryWriterPid(string name, out int pid)
    {
        pid = 0;
        int at = name.LastIndexOf(".tmp-", StringComparison.Ordinal);
        if (!name.StartsWith('.') || at < 0)
            return false;
        string rest = name[(at + ".tmp-".Length)..];
        int dash = rest.IndexOf('-', StringComparison.Ordinal);
        return int.TryParse(
            dash < 0 ? rest : rest[..dash],
            System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture,
            out pid
        );
    }

    /// <summary>Whether process <paramref name="pid"/> exists (Linux: /proc; elsewhere the process table).</summary>
    public static bool IsAlive(int pid)
    {
        if (Directory.Exists("/proc/self"))
            return Directory.Exists("/proc/" + pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
