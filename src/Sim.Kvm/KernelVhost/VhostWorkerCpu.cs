using System.Globalization;

namespace Sim.Kvm.KernelVhost;

/// <summary>
/// The CPU time of this process's kernel vhost worker: Linux 6.1's <c>vhost_dev_set_owner</c> starts a kernel thread
/// named <c>vhost-&lt;owner pid&gt;</c> (drivers/vhost/vhost.c <c>kthread_create(vhost_worker, dev, "vhost-%d",
/// current->pid)</c>), which is not one of the process's threads, so the process's own CPU time leaves it out. Its
/// <c>/proc/&lt;tid&gt;/schedstat</c> first field is the nanoseconds it ran.
/// </summary>
public static class VhostWorkerCpu
{
    /// <summary>Nanoseconds the worker threads named <c>vhost-&lt;pid of this process&gt;</c> have run; null when
    /// none is found (no vhost device owned, or no /proc).</summary>
    public static long? Nanoseconds()
    {
        string name = "vhost-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        long total = 0;
        bool found = false;
        try
        {
            foreach (string dir in Directory.EnumerateDirectories("/proc"))
            {
                string id = Path.GetFileName(dir);
                if (id.Length == 0 || !char.IsAsciiDigit(id[0]))
                    continue;
                if (!TryRead(Path.Combine(dir, "comm"), out string comm) || comm.Trim() != name)
                    continue;
                if (!TryRead(Path.Combine(dir, "schedstat"), out string stat))
                    continue;
                string first = stat.Split(' ', 2)[0];
                if (!long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out long ns))
                    continue;
                total += ns;
                found = true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        return found ? total : null;
    }

    private static bool TryRead(string path, out string text)
    {
        try
        {
            text = File.ReadAllText(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            text = "";
            return false;
        }
    }
}
