using System.Diagnostics;
using Virtsim.Cli.Tests.Commands;
using Virtsim.Fuzz.Workers;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Campaign;

/// <summary>
/// A campaign directory shared with Debian's <c>afl-fuzz</c> (4.04c): an <c>afl-fuzz -S</c> instance driving the
/// same target through our AFL++ bridge (<c>virtsim fuzz --afl</c>) imports the virtsim workers' queue entries,
/// and a virtsim worker started again on the directory imports afl-fuzz's. Skipped, saying so, where afl-fuzz is
/// not installed (scripts/install-deps installs it).
/// </summary>
public sealed class AflSyncInteropTests(ITestOutputHelper output)
{
    private const string Target = "split-virtqueue";

    [Fact]
    public void AflFuzzSecondary_AndVirtsimWorkers_ImportEachOthersQueues()
    {
        string? aflFuzz = FindOnPath("afl-fuzz");
        if (aflFuzz is null)
        {
            output.WriteLine("SKIPPED: afl-fuzz is not installed (apt-get install afl++; scripts/install-deps)");
            return;
        }
        string seeds = Path.Combine(RepositoryRoot(), "corpus", Target);
        using TempDir dir = CliRunner.TempDir();
        string root = dir.File("sync");
        var layout = new CampaignLayout(root);
        string worker = $"{Target}-w0";

        RunVirtsimWorker(root, "5s");
        Assert.True(File.Exists(Path.Combine(layout.Worker(worker), CampaignLayout.MainNodeName)));

        RunAflSecondary(aflFuzz, seeds, root);
        string[] aflQueue = Directory
            .GetFiles(layout.Queue("afl1"))
            .Select(Path.GetFileName)
            .OfType<string>()
            .ToArray();
        int fromVirtsim = aflQueue.Count(n => n.Contains($",sync:{worker},", StringComparison.Ordinal));
        output.WriteLine($"afl-fuzz queue: {aflQueue.Length} entries, {fromVirtsim} imported from {worker}");
        Assert.True(fromVirtsim > 0, "afl-fuzz -S imported nothing from the virtsim worker");
        Assert.Equal(Target, layout.TargetOf("afl1")); // from afl-fuzz's command_line

        RunVirtsimWorker(root, "3s");
        string log = File.ReadAllText(layout.Log(worker));
        output.WriteLine(log);
        // The worker read afl-fuzz's own entries (its seeds and finds; not those it imported from us) ...
        int aflOwn = aflQueue.Count(n => !n.Contains(",sync:", StringComparison.Ordinal));
        Assert.True(aflOwn > 0);
        Assert.True(
            SyncImporter.ReadMinAccept(Path.Combine(layout.Synced(worker), "afl1")) > 0,
            "the worker never synced from afl1"
        );
        Assert.Matches(@"sync: read [1-9]\d* entries from other instances", log);
        // ... and kept those that showed it new coverage under AFL++'s naming of imported entries (none may be new).
        string[] imported = Directory
            .GetFiles(layout.Queue(worker))
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(n => n.Contains(",sync:afl1,", StringComparison.Ordinal))
            .ToArray();
        output.WriteLine($"worker kept {imported.Length} of afl1's {aflOwn} own entries");
    }

    /// <summary>One virtsim worker on the shared directory for <paramref name="time"/>; it must end cleanly.</summary>
    private static void RunVirtsimWorker(string root, string time)
    {
        using var run = new CampaignProcess(
            "fuzz",
            "--target",
            Target,
            "-o",
            root,
            "--jobs",
            "1",
            "--time",
            time,
            "--seed",
            "11",
            "--status",
            "plain"
        );
        Assert.True(run.WaitForExit(TimeSpan.FromSeconds(120)), run.Output);
        Assert.Equal(0, run.Process.ExitCode);
    }

    /// <summary>An <c>afl-fuzz -S afl1</c> secondary on the shared directory, driving the target through
    /// <c>virtsim fuzz --afl</c> for ten seconds; it must end cleanly.</summary>
    private void RunAflSecondary(string aflFuzz, string seeds, string root)
    {
        // AFL_IMPORT_FIRST: the secondary syncs before fuzzing, so the test need not wait out AFL_SYNC_TIME.
        var psi = new ProcessStartInfo(aflFuzz)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (
            string a in new[]
            {
                "-S",
                "afl1",
                "-i",
                seeds,
                "-o",
                root,
                "-t",
                "5000",
                "-m",
                "none",
                "-V",
                "10",
                "--",
                "dotnet",
                Path.Combine(AppContext.BaseDirectory, "virtsim.dll"),
                "fuzz",
                "--target",
                Target,
                "--afl",
            }
        )
        {
            psi.ArgumentList.Add(a);
        }
        foreach (
            (string k, string v) in new[]
            {
                ("AFL_IMPORT_FIRST", "1"),
                ("AFL_SKIP_BIN_CHECK", "1"),
                ("AFL_FORKSRV_INIT_TMOUT", "60000"),
                ("AFL_NO_UI", "1"),
                ("AFL_SKIP_CPUFREQ", "1"),
                ("AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES", "1"),
                ("AFL_NO_AFFINITY", "1"),
                ("DOTNET_TieredCompilation", "0"),
            }
        )
        {
            psi.Environment[k] = v;
        }
        using (var afl = Process.Start(psi)!)
        {
            string aflOut = afl.StandardOutput.ReadToEnd() + afl.StandardError.ReadToEnd();
            Assert.True(afl.WaitForExit(TimeSpan.FromSeconds(180)), aflOut);
            output.WriteLine(aflOut.Length > 3000 ? aflOut[^3000..] : aflOut);
            Assert.Equal(0, afl.ExitCode);
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':')
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);

    private static string RepositoryRoot()
    {
        for (string? d = AppContext.BaseDirectory; d is not null; d = Path.GetDirectoryName(d))
        {
            if (File.Exists(Path.Combine(d, "virtsim.slnx")))
                return d;
        }
        throw new InvalidOperationException("repository root not found above " + AppContext.BaseDirectory);
    }
}
