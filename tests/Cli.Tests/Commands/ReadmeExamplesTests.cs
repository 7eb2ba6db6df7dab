using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>README.md's example outputs are what real runs print: <c>scripts/readme-examples --check</c> re-runs every
/// marked example with this build and compares, timings and coverage counts normalised. When it fails, the README is
/// stale: regenerate it with <c>scripts/readme-examples</c> and review the diff.</summary>
public sealed class ReadmeExamplesTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ReadmeExamples_MatchRealRuns()
    {
        string root = RepositoryRoot();
        var start = new ProcessStartInfo("python3", [Path.Combine(root, "scripts", "readme-examples"), "--check"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = root,
        };
        start.Environment["VIRTSIM_DLL"] = Path.Combine(AppContext.BaseDirectory, "virtsim.dll");
        Process p;
        try
        {
            p = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            output.WriteLine($"skipped: python3 is not available ({e.Message})");
            return;
        }
        using (p)
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(10));
            Task<string> errTask = p.StandardError.ReadToEndAsync(deadline.Token);
            string o = await p.StandardOutput.ReadToEndAsync(deadline.Token);
            await p.WaitForExitAsync(deadline.Token);
            string err = await errTask;
            output.WriteLine(o + err);
            Assert.True(
                p.ExitCode == 0,
                "README.md's examples are stale; run scripts/readme-examples and review the diff:\n" + o + err
            );
            Assert.Contains("all match", o, StringComparison.Ordinal);
        }
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (
                File.Exists(Path.Combine(d.FullName, "scripts", "readme-examples"))
                && File.Exists(Path.Combine(d.FullName, "README.md"))
            )
                return d.FullName;
        }
        throw new InvalidOperationException(
            "repository root (scripts/readme-examples) not found above " + AppContext.BaseDirectory
        );
    }
}
