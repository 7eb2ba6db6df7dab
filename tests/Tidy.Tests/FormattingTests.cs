using System.Diagnostics;
using Xunit;

namespace Tidy.Tests;

/// <summary>Every C# file is as CSharpier 1.4.0 (pinned in .config/dotnet-tools.json, 120 columns in
/// .csharpierrc.yaml) formats it, so line wrapping is the formatter's job, not a reviewer's.
/// Fix a failure with <c>dotnet csharpier format .</c> at the repository root.</summary>
public class FormattingTests
{
    [Fact]
    public async Task Every_source_file_is_formatted_by_csharpier()
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = SourceTree.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "csharpier", "check", "." })
            psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(3)), "tidy: csharpier check did not finish in 3 minutes");
        Assert.True(
            process.ExitCode == 0,
            $"tidy: files not formatted (run `dotnet csharpier format .`; `dotnet tool restore` installs it):\n"
                + stdout
                + await stderr
        );
    }
}
