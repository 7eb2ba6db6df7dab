using System.Diagnostics;
using Virtsim.Fuzz.Workers;

namespace Fuzz.Tests.Workers;

/// <summary>The on-disk pieces of a campaign in AFL++'s formats: queue names, fuzzer_stats, plot_data, .synced,
/// and the clean-up of what a killed writer left.</summary>
public sealed class CampaignFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-campaign-files-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void QueueName_HasAflIdAndParts_AndParsesBack()
    {
        string name = AflQueueName.Format(42, "sync:w/1", "src:000007", "", "+cov");
        Assert.Equal("id:000042,sync:w_1,src:000007,+cov", name);
        Assert.True(AflQueueName.TryParseId(name, out int id));
        Assert.Equal(42, id);
        Assert.True(AflQueueName.TryParseId("id:1234567", out id));
        Assert.Equal(1234567, id);
        Assert.False(AflQueueName.TryParseId("README.txt", out _));
        Assert.False(AflQueueName.TryParseId(".id:000001.tmp-5-1", out _));
        Assert.True(AflQueueName.IsSynced(name));
        Assert.True(AflQueueName.Format(1, new string('x', 500)).Length <= AflQueueName.NameLengthMax);
        File.WriteAllText(Path.Combine(_dir, "id:000003,orig:a"), "");
        File.WriteAllText(Path.Combine(_dir, "id:000009,src:000003"), "");
        File.WriteAllText(Path.Combine(_dir, ".id:000020.tmp-1-1"), "");
        Assert.Equal(10, AflQueueName.NextId(_dir));
    }

    [Fact]
    public void StatsFile_UsesAflPaddedKeys_AndReadsBack()
    {
        string text = StatsFile.Format([
            new("start_time", "17"),
            new("stability", "99.50%"),
            new("command_line", "virtsim fuzz --target x"),
        ]);
        Assert.StartsWith("start_time        : 17\n", text, StringComparison.Ordinal);
        string path = Path.Combine(_dir, "fuzzer_stats");
        StatsFile.WriteAtomically(path, text);
        StatsFile.WriteAtomically(path, text); // replaces
        Dictionary<string, string> read = StatsFile.Read(path);
        Assert.Equal(99.5, StatsFile.Number(read, "stability"));
        Assert.Equal("virtsim fuzz --target x", read["command_line"]);
        Assert.Equal("x", CampaignLayout.TargetInCommandLine(read["command_line"]));
        Assert.Equal("y", CampaignLayout.TargetInCommandLine("a --target=y b"));
        Assert.Single(Directory.GetFiles(_dir)); // no temporary file left
    }

    [Fact]
    public void PlotData_HasAfl4Header_AndPrepareCutsATornRow()
    {
        string path = Path.Combine(_dir, "plot_data");
        PlotDataFile.Prepare(path);
        PlotDataFile.Append(path, 5, 10, 0.5, 1, 2, 1234.5, 9999, 300);
        File.AppendAllText(path, "7, 0, 0, 1"); // a row cut by kill -9
        Assert.Single(PlotDataFile.Read(path));
        PlotDataFile.Prepare(path);
        string[] lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        Assert.Equal(PlotDataFile.Header, lines[0]);
        Assert.Equal("5, 0, 0, 10, 0, 0, 0.50%, 1, 2, 1, 1234.50, 9999, 300", lines[1]);
        double[] row = PlotDataFile.Read(path)[0];
        Assert.Equal(300, row[PlotDataFile.EdgesFound]);
        Assert.Equal(9999, row[PlotDataFile.TotalExecs]);
    }

    [Fact]
    public void StaleTempFiles_RemovesOnlyThoseOfDeadWriters()
    {
        int dead = DeadPid();
        int alive = Process.GetCurrentProcess().Parent();
        string sub = Directory.CreateDirectory(Path.Combine(_dir, "queue")).FullName;
        string stale = Path.Combine(sub, $".id:000001.tmp-{dead}-3");
        string staleDir = Path.Combine(_dir, $".rw-0123.tmp-{dead}-1");
        string live = Path.Combine(sub, $".id:000002.tmp-{alive}-1");
        string user = Path.Combine(sub, "id:000000,orig:x");
        File.WriteAllText(stale, "half");
        Directory.CreateDirectory(staleDir);
        File.WriteAllText(live, "in flight");
        File.WriteAllText(user, "data");
        Assert.Equal(2, StaleTempFiles.Clean(_dir));
        Assert.False(File.Exists(stale));
        Assert.False(Directory.Exists(staleDir));
        Assert.True(File.Exists(live));
        Assert.True(File.Exists(user));
    }

    [Fact]
    public void SyncImporter_ReadsEachNewEntryOnce_SkipsSyncedEntriesAndOtherTargets()
    {
        var layout = new CampaignLayout(_dir);
        Worker(layout, "me", "t");
        Worker(
            layout,
            "peer",
            "t",
            ("id:000000,orig:a", [1]),
            ("id:000001,sync:me,src:000000", [2]),
            ("id:000002,src:000000", [3])
        );
        Worker(layout, "other", "u", ("id:000000,orig:a", [9]));
        var seen = new List<(string, byte)>();
        var importer = new SyncImporter(layout, "me", "t", n => n);
        Assert.Equal(
            (2, 1),
            importer.Sync(
                (from, _, data) =>
                {
                    seen.Add((from, data[0]));
                    return data[0] == 3;
                },
                null
            )
        );
        Assert.Equal([("peer", (byte)1), ("peer", (byte)3)], seen);
        Assert.Equal(3, SyncImporter.ReadMinAccept(Path.Combine(layout.Synced("me"), "peer")));
        Assert.Equal((0, 0), importer.Sync((_, _, _) => true, null));
        File.WriteAllBytes(Path.Combine(layout.Queue("peer"), "id:000003,src:000002"), [4]);
        Assert.Equal((1, 1), new SyncImporter(layout, "me", "t", n => n).Sync((_, _, d) => d[0] == 4, null));
    }

    private static void Worker(
        CampaignLayout layout,
        string name,
        string target,
        params (string Name, byte[] Data)[] entries
    )
    {
        Directory.CreateDirectory(layout.Queue(name));
        File.WriteAllText(layout.TargetFile(name), target + "\n");
        foreach ((string n, byte[] d) in entries)
            File.WriteAllBytes(Path.Combine(layout.Queue(name), n), d);
    }

    private static int DeadPid()
    {
        using var p = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        p.WaitForExit();
        return p.Id;
    }
}

internal static class ProcessParent
{
    /// <summary>The parent's pid (alive while this test runs), from /proc/self/stat.</summary>
    public static int Parent(this Process _)
    {
        string stat = File.ReadAllText("/proc/self/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
