using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary><c>virtsim mutants</c> on System.CommandLine, with the same rules as <c>fuzz</c>.</summary>
public sealed class MutantsCommandLineTests
{
    [Fact]
    public void Help_ListsEveryOptionWithItsDefault()
    {
        var (code, o, _) = CliRunner.Run("mutants", "--help");
        Assert.Equal(ExitCodes.Ok, code);
        foreach (string option in new[] { "--list", "--run", "--time", "--seed", "--targets", "--findings" })
            Assert.Contains(option, o, StringComparison.Ordinal);
        Assert.Contains("[default: 60]", o, StringComparison.Ordinal);
        Assert.Equal(o, CliRunner.Run("help", "mutants").Out);
        Assert.Equal(o, CliRunner.Run("mutants", "-?").Out);
    }

    [Theory]
    [InlineData("", "give --list or --run ID")]
    [InlineData("--list --run 3", "give --list or --run ID")]
    [InlineData("--list --time 5", "--time applies to --run")]
    [InlineData("--list --findings out", "--findings applies to --run")]
    [InlineData("--run 1 --run 2", "--run is given 2 times")]
    [InlineData("--run x", "--run needs a mutant id")]
    [InlineData("--run 1 --time -4", "--time needs a positive number of seconds")]
    [InlineData("--run 1 --bogus", "--bogus")]
    public void UsageErrors_ArePrefixedAndExit2(string line, string expected)
    {
        var (code, o, e) = CliRunner.Run(["mutants", .. line.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Equal("", o);
        Assert.StartsWith("virtsim: mutants: ", e, StringComparison.Ordinal);
        Assert.Contains(expected, e, StringComparison.Ordinal);
    }
}
