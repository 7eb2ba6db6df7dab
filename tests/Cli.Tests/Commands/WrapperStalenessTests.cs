using System.Diagnostics;
using System.Security.Cryptography;
using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>
/// The <c>./virtsim</c> wrapper's staleness check (its <c>virtsim_stale</c> function, sourced without running the
/// wrapper) over a small fake tree: files any build rewrites (bin/, obj/, a test restore's unchanged
/// project.assets.json) must not trigger a rebuild; a source, project or build-settings change, or a changed restore
/// result of the CLI, must (issue 13: every test build made the next <c>./virtsim</c> rebuild the CLI).
/// </summary>
public sealed class WrapperStalenessTests
{
    private static readonly DateTime Built = new(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);

    [Fact]
    public void FreshTree_IsNotStale() => WithTree((root, dll) => Assert.False(Stale(root, dll)));

    [Fact]
    public void MissingBuild_IsStale() =>
        WithTree(
            (root, dll) =>
            {
                File.Delete(dll);
                Assert.True(Stale(root, dll));
            }
        );

    [Theory]
    [InlineData("src/Fuzz/obj/project.assets.json")]
    [InlineData("src/Fuzz/obj/Fuzz.csproj.nuget.dgspec.json")]
    [InlineData("src/Fuzz/obj/Release/net10.0/Fuzz.AssemblyInfo.cs")]
    [InlineData("src/Sim.Devices/bin/Release/net10.0/Sim.Devices.deps.json")]
    [InlineData("src/Cli/obj/Debug/net10.0/virtsim.GlobalUsings.g.cs")]
    public void WhatATestBuildRewrites_DoesNotMakeItStale(string path) =>
        WithTree(
            (root, dll) =>
            {
                Write(root, path, "rewritten by a test build", Built.AddMinutes(5));
                Assert.False(Stale(root, dll), path);
            }
        );

    [Fact]
    public void CliAssetsRewrittenUnchanged_IsNotStale() =>
        WithTree(
            (root, dll) =>
            {
                File.SetLastWriteTimeUtc(Path.Combine(root, "src/Cli/obj/project.assets.json"), Built.AddMinutes(5));
                Assert.False(Stale(root, dll));
            }
        );

    [Fact]
    public void CliAssetsChanged_IsStale() =>
        WithTree(
            (root, dll) =>
            {
                Write(root, "src/Cli/obj/project.assets.json", """{"version": 4, "new": true}""", Built.AddMinutes(5));
                Assert.True(Stale(root, dll));
            }
        );

    [Theory]
    [InlineData("src/Fuzz/Engine/FuzzCampaign.cs")]
    [InlineData("src/Devices/virtio-net/Model/VirtioNetDevice.cs")]
    [InlineData("src/Cli/Cli.csproj")]
    [InlineData("src/Fuzz/Directory.Build.props")]
    [InlineData("Directory.Build.props")]
    [InlineData("Directory.Build.targets")]
    [InlineData("Directory.Packages.props")]
    [InlineData("BannedSymbols.txt")]
    [InlineData("global.json")]
    public void SourceOrBuildSettingChanged_IsStale(string path) =>
        WithTree(
            (root, dll) =>
            {
                Write(root, path, "changed", Built.AddMinutes(5));
                Assert.True(Stale(root, dll), path);
            }
        );

    /// <summary>A tree with the wrapper, a few sources, build outputs, the CLI's assets and its recorded hash, all
    /// older than the built dll.</summary>
    private static void WithTree(Action<string, string> test)
    {
        using TempDir dir = CliRunner.TempDir();
        string root = dir.Path;
        File.Copy(Path.Combine(RepositoryRoot(), "virtsim"), Path.Combine(root, "virtsim"));
        DateTime before = Built.AddMinutes(-5);
        foreach (
            string path in new[]
            {
                "src/Fuzz/Engine/FuzzCampaign.cs",
                "src/Fuzz/Fuzz.csproj",
                "src/Cli/Cli.csproj",
                "src/Devices/virtio-net/Model/VirtioNetDevice.cs",
                "src/Fuzz/obj/project.assets.json",
                "Directory.Build.props",
                "BannedSymbols.txt",
            }
        )
            Write(root, path, "as built", before);
        string assets = """{"version": 3}""";
        Write(root, "src/Cli/obj/project.assets.json", assets, before);
        string dll = Path.Combine(root, ".build/virtsim/virtsim.dll");
        Write(root, ".build/virtsim/virtsim.dll.assets.sha256", Sha256(assets) + "\n", Built);
        Write(root, ".build/virtsim/virtsim.dll", "dll", Built);
        test(root, dll);
    }

    private static bool Stale(string root, string dll)
    {
        var psi = new ProcessStartInfo("bash")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                "-c",
                "source \"$1\"; if virtsim_stale \"$2\" \"$3\"; then echo stale; else echo fresh; fi",
                "bash",
                Path.Combine(root, "virtsim"),
                root,
                dll,
            },
        };
        using Process p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, error);
        Assert.True(output.Trim() is "stale" or "fresh", output + error);
        return output.Trim() == "stale";
    }

    private static void Write(string root, string relative, string text, DateTime time)
    {
        string path = Path.Combine(root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        File.SetLastWriteTimeUtc(path, time);
    }

    /// <summary>What <c>sha256sum</c> prints for <paramref name="text"/> (UTF-8, no BOM).</summary>
    private static string Sha256(string text) =>
        Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text))).ToLowerInvariant();

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "virtsim")) && Directory.Exists(Path.Combine(d.FullName, "src")))
                return d.FullName;
        }
        throw new InvalidOperationException("repository root (./virtsim) not found above " + AppContext.BaseDirectory);
    }
}
