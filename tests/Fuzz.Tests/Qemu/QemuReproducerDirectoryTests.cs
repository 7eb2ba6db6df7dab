using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Qemu;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// Issue 13: a real-QEMU finding's standalone reproducer goes under the campaign's findings directory
/// (<c>&lt;findings&gt;/qemu-reproducers/</c>), not <c>findings/qemu-reproducers</c> under the current directory
/// whatever <c>--findings</c> said; <c>$VIRTSIM_QEMU_REPRODUCERS</c> and a directory set on the target still win.
/// In the real-QEMU collection: the end-to-end case runs QEMU, and the environment variable is read by these targets.
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuReproducerDirectoryTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-repro-dir-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Campaign_PutsReproducersUnderItsFindingsDirectory() => WithVariable(null, () =>
        {
            string findings = Path.Combine(_dir, "my-findings");
            var target = new VirtioBlkQemuTarget();
            Assert.Equal(Path.Combine("findings", QemuReproducer.FolderName), target.ReproducerDirectory);
            _ = new FuzzCampaign(
                target,
                new CampaignOptions { RunsMax = 1, FindingsDirectory = findings },
                new NullCoverage("test")
            );
            Assert.Equal(Path.Combine(findings, "qemu-reproducers"), target.ReproducerDirectory);
        });

    [Fact]
    public void DirectorySetOnTheTarget_WinsOverTheFindingsDirectory()
    {
        var off = new VirtioRngQemuTarget { ReproducerDirectory = null };
        off.UseFindingsDirectory(_dir);
        Assert.Null(off.ReproducerDirectory);
        var chosen = new VirtioNetQemuTarget { ReproducerDirectory = Path.Combine(_dir, "mine") };
        chosen.UseFindingsDirectory(_dir);
        Assert.Equal(Path.Combine(_dir, "mine"), chosen.ReproducerDirectory);
    }

    [Fact]
    public void EnvironmentVariable_WinsOverTheFindingsDirectory() => WithVariable(Path.Combine(_dir, "env"), () =>
        {
            var target = new VirtioBlkQemuTarget();
            Assert.Equal(Path.Combine(_dir, "env"), target.ReproducerDirectory);
            target.UseFindingsDirectory(Path.Combine(_dir, "findings"));
            Assert.Equal(Path.Combine(_dir, "env"), target.ReproducerDirectory);
        });

    /// <summary>Runs <paramref name="test"/> with <c>$VIRTSIM_QEMU_REPRODUCERS</c> set to <paramref name="value"/>
    /// (null: unset), restoring it afterwards.</summary>
    private static void WithVariable(string? value, Action test)
    {
        string? before = Environment.GetEnvironmentVariable(QemuReproducer.DirectoryVariable);
        try
        {
            Environment.SetEnvironmentVariable(QemuReproducer.DirectoryVariable, value);
            test();
        }
        finally
        {
            Environment.SetEnvironmentVariable(QemuReproducer.DirectoryVariable, before);
        }
    }

    /// <summary>End to end on real QEMU: the net seed that aborts QEMU 7.2 (QemuNetReproducerTests), run by a target
    /// told the findings directory, leaves its reproducer there and nothing under the current directory.</summary>
    [Fact]
    public void CrashFinding_WritesItsReproducerUnderTheFindingsDirectory() => WithVariable(null, CrashFinding);

    private void CrashFinding()
    {
        if (VirtioNetQemuTarget.Available is { } why)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        string findings = Path.Combine(_dir, "findings");
        var target = new VirtioNetQemuTarget();
        target.UseFindingsDirectory(findings);
        var context = new FuzzContext();
        // Other tests of this collection run the same input with the current-directory default, so what matters is
        // that this run wrote nothing there: compare the run files' write times.
        Dictionary<string, DateTime> before = CurrentDirectoryRunFiles();
        target.Execute(Convert.FromHexString(QemuNetReproducerTests.SmallReceiveChain), context);
        Assert.NotNull(context.Finding);
        output.WriteLine(context.Finding.Message);
        string reproducers = Path.Combine(findings, QemuReproducer.FolderName);
        Assert.Contains("standalone reproducer: " + reproducers, context.Finding.Message, StringComparison.Ordinal);
        string written = Assert.Single(Directory.GetDirectories(reproducers));
        Assert.True(File.Exists(Path.Combine(written, QemuReproducer.RunFileName)));
        Assert.Equal(before, CurrentDirectoryRunFiles());
    }

    /// <summary>Each reproducer's run file under the current directory's default folder, with its write time.</summary>
    private static Dictionary<string, DateTime> CurrentDirectoryRunFiles()
    {
        string root = Path.Combine("findings", QemuReproducer.FolderName);
        if (!Directory.Exists(root))
            return [];
        return Directory
            .GetFiles(root, QemuReproducer.RunFileName, SearchOption.AllDirectories)
            .ToDictionary(f => f, File.GetLastWriteTimeUtc, StringComparer.Ordinal);
    }
}
