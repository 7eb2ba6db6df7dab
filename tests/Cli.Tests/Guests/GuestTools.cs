using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Guests;

/// <summary>The tools the guest tests drive: <c>guest/build</c> (gcc with -m32), QEMU's software CPU for running a
/// guest against QEMU's own virtio devices, and the repository they live in. Each probe says why a tool is unusable
/// (null: usable), so the tests skip with that reason.</summary>
internal static class GuestTools
{
    public const string Qemu = "qemu-system-i386";

    private const int ProbeTimeoutMs = 30_000;

    private static readonly Lazy<string?> GccMissing = new(() =>
    {
        string probe = Path.Combine(Path.GetTempPath(), $"virtsim-m32-probe-{Environment.ProcessId}.o");
        try
        {
            var (code, _, err) = Run(
                "gcc",
                ["-m32", "-ffreestanding", "-x", "c", "-c", "-o", probe, "/dev/null"],
                null,
                ProbeTimeoutMs
            );
            return code == 0
                ? null
                : "gcc cannot build 32-bit code (scripts/install-deps installs gcc-multilib): " + err.Trim();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return "gcc is not installed: " + e.Message;
        }
        finally
        {
            File.Delete(probe);
        }
    });

    private static readonly Lazy<string?> QemuMissing = new(() =>
    {
        try
        {
            var (code, _, err) = Run(Qemu, ["-version"], null, ProbeTimeoutMs);
            return code == 0 ? null : $"{Qemu} -version failed: {err.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"{Qemu} is not installed (Debian: qemu-system-x86): {e.Message}";
        }
    });

    private const int BuildTimeoutMs = 300_000;

    private static readonly Lazy<(string Dir, string Log)> Built = new(() =>
    {
        string dir = Directory.CreateTempSubdirectory("virtsim-guests-built-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(dir, recursive: true);
        return (dir, Build(dir, null));
    });

    /// <summary>Every guest, built once per test run into a folder removed at exit.</summary>
    public static string BuiltDir => Built.Value.Dir;

    /// <summary>What that build printed.</summary>
    public static string BuiltLog => Built.Value.Log;

    /// <summary>Runs guest/build into <paramref name="outDir"/> (all guests, or <paramref name="names"/>) and fails the
    /// test when it fails; returns what it printed.</summary>
    public static string Build(string outDir, ITestOutputHelper? output, params string[] names)
    {
        var (code, stdout, stderr) = Run(
            Path.Combine(RepoRoot, "guest", "build"),
            names,
            new Dictionary<string, string> { ["GUEST_OUT"] = outDir },
            BuildTimeoutMs,
            output
        );
        Assert.True(code == 0, "guest/build failed:\n" + stdout + stderr);
        return stdout;
    }

    /// <summary>Why guest/build cannot run here, or null.</summary>
    public static string? BuildUnavailable => GccMissing.Value;

    /// <summary>Why a guest cannot be built and run under QEMU here, or null.</summary>
    public static string? QemuUnavailable => GccMissing.Value ?? QemuMissing.Value;

    /// <summary>The repository root (the folder holding virtsim.slnx) above the test binaries.</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "virtsim.slnx")))
                    return dir.FullName;
            }
            throw new InvalidOperationException(
                "repository root (virtsim.slnx) not found above " + AppContext.BaseDirectory
            );
        }
    }

    /// <summary>Runs <paramref name="file"/> with <paramref name="args"/>, extra environment <paramref name="env"/>,
    /// and fails the test when it does not end within <paramref name="timeoutMs"/>.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(
        string file,
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? env,
        int timeoutMs,
        ITestOutputHelper? output = null
    )
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        if (env != null)
        {
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        }
        using Process p = Process.Start(psi)!;
        p.StandardInput.Close();
        System.Threading.Tasks.Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        System.Threading.Tasks.Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} did not finish within {timeoutMs} ms: {string.Join(' ', psi.ArgumentList)}");
        }
        p.WaitForExit();
        var result = (p.ExitCode, stdout.Result, stderr.Result);
        output?.WriteLine(
            $"{file} {string.Join(' ', psi.ArgumentList)} -> {result.ExitCode}\n{result.Item2}{result.Item3}"
        );
        return result;
    }
}

/// <summary>A fact that needs <c>guest/build</c> (gcc -m32); skipped, with the reason, where it cannot run.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class GuestBuildFactAttribute : FactAttribute
{
    public GuestBuildFactAttribute()
    {
        if (GuestTools.BuildUnavailable is { } why)
            Skip = why;
    }
}

/// <summary>A fact that needs <c>guest/build</c> and QEMU; skipped, with the reason, where either is missing.</summary>
[AttributeUsage(AttributeTargets.Method)]
internal sealed class GuestQemuFactAttribute : FactAttribute
{
    public GuestQemuFactAttribute()
    {
        if (GuestTools.QemuUnavailable is { } why)
            Skip = why;
    }
}
