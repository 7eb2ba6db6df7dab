using System.Buffers.Binary;

namespace Virtsim.Fuzz.Workers;

/// <summary>
/// Imports other instances' queue entries as AFL++ does (afl-fuzz-run.c <c>sync_fuzzers</c>): for each other worker
/// directory of the same target, read the queue entries whose id is at least the one remembered in
/// <c>&lt;me&gt;/.synced/&lt;other&gt;</c> (a little-endian u32, "next id to accept", as AFL++ keeps it), offer each
/// to the campaign, then remember one past the largest id read. Entries that were themselves imported
/// (<c>,sync:</c>) are skipped: their origin is synced directly. Unreadable files are skipped (an AFL++ instance
/// writes its queue in place, so one may be half-written now and whole at the next sync: its id is not passed).
/// </summary>
internal sealed class SyncImporter(
    CampaignLayout layout,
    string me,
    string targetName,
    Func<string, string?> resolveTarget
)
{
    /// <summary>Entries read per other instance and sync, so one sync cannot stall a worker for long.</summary>
    public const int EntriesPerSyncMax = 1024;

    private readonly HashSet<string> _refused = new(StringComparer.Ordinal);

    /// <summary>Offers new entries of every other same-target worker to <paramref name="offer"/> (instance name,
    /// entry file name, bytes → kept). Returns (entries read, entries kept).</summary>
    public (int Read, int Kept) Sync(Func<string, string, byte[], bool> offer, TextWriter? log)
    {
        int read = 0,
            kept = 0;
        foreach (string other in layout.Workers())
        {
            if (other == me || _refused.Contains(other))
                continue;
            string? otherTarget = layout.TargetOf(other);
            if (otherTarget is null || resolveTarget(otherTarget) != targetName)
            {
                // Unknown or different target: its inputs mean something else. Asked again only after a restart.
                if (otherTarget is not null)
                    _refused.Add(other);
                continue;
            }
            string syncedFile = Path.Combine(layout.Synced(me), other);
            int minAccept = ReadMinAccept(syncedFile);
            var entries = new List<(int Id, string Path)>();
            foreach (string path in Directory.EnumerateFiles(layout.Queue(other)))
            {
                string name = Path.GetFileName(path);
                if (AflQueueName.TryParseId(name, out int id) && id >= minAccept && !AflQueueName.IsSynced(name))
                    entries.Add((id, path));
            }
            if (entries.Count == 0)
                continue;
            entries.Sort((a, b) => a.Id.CompareTo(b.Id));
            int next = minAccept;
            foreach ((int id, string path) in entries.Take(EntriesPerSyncMax))
            {
                byte[] data;
                try
                {
                    data = File.ReadAllBytes(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    log?.WriteLine($"sync: cannot read {path} now ({e.Message}); retried at the next sync");
                    break;
                }
                read++;
                if (offer(other, Path.GetFileName(path), data))
                    kept++;
                next = id + 1;
            }
            WriteMinAccept(syncedFile, next);
        }
        return (read, kept);
    }

    public static int ReadMinAccept(string file)
    {
        try
        {
            byte[] b = File.ReadAllBytes(file);
            return b.Length >= 4 ? (int)Math.Min(int.MaxValue, BinaryPrimitives.ReadUInt32LittleEndian(b)) : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static void WriteMinAccept(string file, int next)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        byte[] b = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)next);
        string temp = Path.Combine(
            Path.GetDirectoryName(file)!,
            $".{Path.GetFileName(file)}.tmp-{Environment.ProcessId}"
        );
        File.WriteAllBytes(temp, b);
        File.Move(temp, file, overwrite: true);
    }
}
