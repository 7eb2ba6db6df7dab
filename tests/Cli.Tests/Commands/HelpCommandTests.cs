using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary><c>virtsim help &lt;command&gt;</c> is <c>virtsim &lt;command&gt; --help</c>; <c>-?</c> works
/// everywhere.</summary>
public sealed class HelpCommandTests
{
    [Theory]
    [InlineData("show")]
    [InlineData("replay")]
    [InlineData("export")]
    [InlineData("run")]
    [InlineData("bench")]
    public void HelpCommand_IsTheCommandsHelp(string command)
    {
        var (code, o, _) = CliRunner.Run("help", command);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal(CliRunner.Run(command, "--help").Out, o);
        Assert.Equal(o, CliRunner.Run(command, "-?").Out);
        Assert.Contains("Usage:", o, StringComparison.Ordinal);
        Assert.Contains(" " + command + " ", o, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_Alone_ListsEveryCommand_AndHelpOfAScenarioShowsItsOptions()
    {
        var (code, o, _) = CliRunner.Run("help");
        Assert.Equal(ExitCodes.Ok, code);
        foreach (string c in new[] { "run", "show", "replay", "export", "bench", "record", "fuzz", "help" })
            Assert.Contains("  " + c, o, StringComparison.Ordinal);
        var (_, blk, _) = CliRunner.Run("help", "run", "blk");
        Assert.Contains("writes=4 (0..10000)", blk, StringComparison.Ordinal);
    }

    [Fact]
    public void HelpFuzz_PrintsTheFuzzerUsage()
    {
        var (code, o, _) = CliRunner.Run("help", "fuzz");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("virtsim fuzz [command] [options]", o, StringComparison.Ordinal);
        Assert.Contains("virtsim fuzz run [options]", o, StringComparison.Ordinal);
        Assert.Equal(o, CliRunner.Run("fuzz", "-?").Out);
    }

    [Fact]
    public void HelpOfAnUnknownCommand_IsAUsageError()
    {
        var (code, _, err) = CliRunner.Run("help", "no-such-command");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.StartsWith("virtsim: ", err, StringComparison.Ordinal);
    }
}
