using System.Globalization;
using System.Text.RegularExpressions;
using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Virtsim.Cli.Tests.Commands;
using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

/// <summary>Each scenario's declared <c>--opt</c> options (<see cref="IScenario.Options"/>) are the ones it accepts,
/// with the defaults it really uses and the values it really allows; <c>run --list</c> and <c>run &lt;scenario&gt;
/// --help</c> show them.</summary>
public sealed partial class ScenarioOptionDeclarationTests
{
    public static TheoryData<string> Names() => [.. ScenarioCatalog.All.Select(s => s.Name)];

    private static IScenario Scenario(string name) => ScenarioCatalog.Find(name)!;

    private static ScenarioOptions With(params (string Key, string Value)[] named) =>
        new(1, named.Select(n => new KeyValuePair<string, string>(n.Key, n.Value)));

    /// <summary>The run's last report line: stop reason, events, event hash and memory hash.</summary>
    private static string Outcome(IScenario scenario, ScenarioOptions options)
    {
        ScenarioRun run = scenario.Create(options);
        run.Run();
        return run.ReportLines()[^1];
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void EveryDeclaredDefault_IsTheValueTheScenarioUses(string name)
    {
        IScenario scenario = Scenario(name);
        string plain = Outcome(scenario, With());
        Assert.StartsWith("stop=", plain, StringComparison.Ordinal);
        foreach (ScenarioOption o in scenario.Options.Where(o => o.HasLiteralDefault))
        {
            Assert.True(
                plain == Outcome(scenario, With((o.Name, o.Default))),
                $"{name}: spelling out {o.Name}={o.Default} changes the run"
            );
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void OnlyDeclaredOptionsAreAccepted(string name)
    {
        IScenario scenario = Scenario(name);
        var e = Assert.Throws<ArgumentException>(() => scenario.Create(With(("no_such_option", "1"))));
        Assert.EndsWith(
            "known: " + string.Join(", ", scenario.Options.Select(o => o.Name)),
            e.Message,
            StringComparison.Ordinal
        );
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void DeclaredRangesAndChoices_AreWhatTheScenarioAllows(string name)
    {
        IScenario scenario = Scenario(name);
        foreach (ScenarioOption o in scenario.Options)
        {
            if (IntRange().Match(o.Allowed) is { Success: true } m)
            {
                long min = long.Parse(m.Groups["min"].Value, CultureInfo.InvariantCulture);
                long max = long.Parse(m.Groups["max"].Value, CultureInfo.InvariantCulture);
                Assert.Throws<ArgumentException>(() =>
                    scenario.Create(With((o.Name, (min - 1).ToString(CultureInfo.InvariantCulture))))
                );
                Assert.Throws<ArgumentException>(() =>
                    scenario.Create(With((o.Name, (max + 1).ToString(CultureInfo.InvariantCulture))))
                );
                scenario.Create(With((o.Name, min.ToString(CultureInfo.InvariantCulture))));
            }
            else if (Choices().IsMatch(o.Allowed))
            {
                foreach (string choice in o.Allowed.Split('|'))
                    scenario.Create(With((o.Name, choice)));
                var e = Assert.Throws<ArgumentException>(() => scenario.Create(With((o.Name, "no-such-value"))));
                Assert.Contains(o.Name, e.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void RunList_ShowsEachScenariosOptionsWithDefaults()
    {
        var (code, o, _) = CliRunner.Run("run", "--list");
        Assert.Equal(ExitCodes.Ok, code);
        string blk = o[o.IndexOf("\nblk ", StringComparison.Ordinal)..];
        Assert.Contains("--opt transport=legacy (modern|legacy)", blk, StringComparison.Ordinal);
        Assert.Contains("--opt irq=intx (msix|intx)", blk, StringComparison.Ordinal);
        foreach (IScenario s in ScenarioCatalog.All)
        {
            foreach (ScenarioOption opt in s.Options)
                Assert.Contains("    --opt " + opt, o, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("-?")]
    public void RunScenarioHelp_ShowsItsOptions(string help)
    {
        var (code, o, _) = CliRunner.Run("run", "counter", help);
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("--opt", o, StringComparison.Ordinal);
        Assert.Contains("Scenario options", o, StringComparison.Ordinal);
        Assert.Contains("ticks=5 (1..100000)", o, StringComparison.Ordinal);
        Assert.Contains("period_ns=1000000000 (1000..60000000000)", o, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^(?<min>-?\d+)\.\.(?<max>\d+)$")]
    private static partial Regex IntRange();

    [GeneratedRegex(@"^[a-z0-9_-]+(\|[a-z0-9_-]+)+$")]
    private static partial Regex Choices();
}
