using System.Text.Json;
using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary><c>virtsim show --kind/--from/--to/--json</c>.</summary>
public sealed class ShowFilterTests
{
    private static string Trace()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "virtsim.slnx")))
            dir = Path.GetDirectoryName(dir);
        return Path.Combine(dir!, "traces", "sim", "factorial.vtrace");
    }

    private static string[] EventLines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith('#') || char.IsDigit(l[1]))
            .Where(l => l.StartsWith('#'))
            .ToArray();

    [Fact]
    public void Kind_ListsOnlyThoseKinds_CaseInsensitive_Repeatable()
    {
        var (code, o, _) = CliRunner.Run("show", Trace(), "--kind", "ioeventfd,IrqInject", "--kind", "Halt");
        Assert.Equal(ExitCodes.Ok, code);
        string[] lines = EventLines(o);
        Assert.Equal(18, lines.Length); // 6 kicks, 6 interrupts, 6 HLTs in the factorial run
        Assert.All(lines, l => Assert.Matches(@"^#\d+ t=\d+ (IoEventFd|IrqInject|Halt) ", l));
        Assert.Contains("# end: 372 events", o, StringComparison.Ordinal);
    }

    [Fact]
    public void FromTo_ByIndexAndByTime_AreInclusive()
    {
        var (_, o, _) = CliRunner.Run("show", Trace(), "--from", "10", "--to", "12");
        Assert.Equal(["#10 ", "#11 ", "#12 "], EventLines(o).Select(l => l[..4]));
        var (_, byTime, _) = CliRunner.Run(
            "show",
            Trace(),
            "--from",
            "1597100ns",
            "--to",
            "1.5971ms",
            "--kind",
            "IoEventFd"
        );
        Assert.Equal(["#247 t=1597100 IoEventFd src=0 addr=0xfe007000 val=0x2 data=0000"], EventLines(byTime));
        Assert.Equal(
            EventLines(byTime),
            EventLines(
                CliRunner.Run("show", Trace(), "--from", "1597.1us", "--to", "1597100ns", "--kind", "IoEventFd").Out
            )
        );
    }

    [Fact]
    public void Json_IsOneObjectPerEvent_WithAllItsFields()
    {
        var (code, o, _) = CliRunner.Run("show", Trace(), "--from", "247", "--to", "248", "--json");
        Assert.Equal(ExitCodes.Ok, code);
        string[] lines = o.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using JsonDocument kick = JsonDocument.Parse(lines[0]);
        Assert.Equal(247, kick.RootElement.GetProperty("i").GetInt32());
        Assert.Equal(1597100, kick.RootElement.GetProperty("t_ns").GetInt64());
        Assert.Equal("IoEventFd", kick.RootElement.GetProperty("kind").GetString());
        Assert.Equal(0xfe007000UL, kick.RootElement.GetProperty("addr").GetUInt64());
        Assert.Equal(2UL, kick.RootElement.GetProperty("value").GetUInt64());
        Assert.Equal("0000", kick.RootElement.GetProperty("data").GetString());
        using JsonDocument next = JsonDocument.Parse(lines[1]);
        Assert.Equal(248, next.RootElement.GetProperty("i").GetInt32());
    }

    [Theory]
    [InlineData("--kind", "Bogus")]
    [InlineData("--kind", "3")]
    [InlineData("--from", "5x")]
    [InlineData("--to", "-1")]
    public void BadFilters_AreUsageErrors(string option, string value)
    {
        var (code, _, err) = CliRunner.Run("show", Trace(), option, value);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.StartsWith("virtsim: ", err, StringComparison.Ordinal);
    }

    [Fact]
    public void FromAfterTo_IsAUsageError()
    {
        Assert.Equal(ExitCodes.UsageOrInput, CliRunner.Run("show", Trace(), "--from", "20", "--to", "10").Code);
    }
}
