using Xunit;

namespace Virtsim.Cli.Tests.Commands;

/// <summary>
/// <c>virtsim fuzz</c> on System.CommandLine (issue 13 §2): modes are subcommands, <c>--help</c> lists every option
/// with its default, errors start with <c>virtsim:</c> and exit 2, a repeated option or one of another mode is an
/// error, and the old flag forms still work.
/// </summary>
public sealed class FuzzCommandLineTests
{
    [Fact]
    public void FuzzHelp_ListsEveryModeAndEveryOption_WithDefaults_IncludingTheCampaignOptions()
    {
        var (code, o, _) = CliRunner.Run("fuzz", "--help");
        Assert.Equal(ExitCodes.Ok, code);
        foreach (
            string mode in new[]
            {
                "list",
                "run",
                "reproduce",
                "emit-test",
                "afl",
                "libfuzzer",
                "report",
                "cmin",
                "triage",
            }
        )
            Assert.Contains("virtsim fuzz " + mode, o, StringComparison.Ordinal);
        Assert.DoesNotContain("virtsim fuzz worker", o, StringComparison.Ordinal);
        foreach (
            string option in new[]
            {
                "--target",
                "--seed",
                "--runs",
                "--time",
                "--corpus",
                "--findings",
                "--max-len",
                "--steps-max",
                "--alloc-max",
                "--no-minimize",
                "--no-coverage",
                "--instrument-cache",
                "--output",
                "--jobs",
                "--status",
                "--sync-every",
                "--slice",
                "--machine",
                "--expect-fires",
                "--out",
                "--afl-input",
            }
        )
        {
            Assert.Contains(option, o, StringComparison.Ordinal);
        }
        Assert.Contains("[default: 4096]", o, StringComparison.Ordinal);
        Assert.Contains("[default: findings]", o, StringComparison.Ordinal);
        Assert.Contains("[default: 5s]", o, StringComparison.Ordinal);
        Assert.Contains("[default: 5m]", o, StringComparison.Ordinal);
        Assert.Contains("[default: auto]", o, StringComparison.Ordinal);
        Assert.Contains("(default: 10000000)", o, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run")]
    [InlineData("reproduce")]
    [InlineData("emit-test")]
    [InlineData("afl")]
    [InlineData("libfuzzer")]
    [InlineData("report")]
    [InlineData("cmin")]
    [InlineData("triage")]
    public void EachMode_HasItsHelp_ThroughHelpDashQuestionAndHelpCommand(string mode)
    {
        var (code, o, e) = CliRunner.Run("fuzz", mode, "--help");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Equal("", e);
        Assert.Contains("virtsim fuzz " + mode, o, StringComparison.Ordinal);
        Assert.Equal(o, CliRunner.Run("fuzz", mode, "-?").Out);
        Assert.Equal(o, CliRunner.Run("help", "fuzz", mode).Out);
    }

    [Theory]
    [InlineData("--runs")]
    [InlineData("--seed")]
    [InlineData("--findings")]
    [InlineData("--no-coverage")]
    public void ARepeatedOption_IsAnError(string option)
    {
        string[] value =
            option == "--no-coverage" ? []
            : option == "--findings" ? ["f"]
            : ["3"];
        var (code, _, e) = CliRunner.Run([
            "fuzz",
            "run",
            "--target",
            "guest-memory",
            "--runs",
            "1",
            .. (option == "--runs" ? [] : new[] { option }.Concat(value)),
            option,
            .. value,
        ]);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.StartsWith("virtsim: ", e, StringComparison.Ordinal);
        Assert.Contains($"{option} is given 2 times", e, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--runs", "reproduce")]
    [InlineData("--corpus", "afl")]
    [InlineData("--expect-fires", "run")]
    [InlineData("--afl-input", "libfuzzer")]
    public void AnOptionOfAnotherMode_IsAnError_NamingTheModesItBelongsTo(string option, string mode)
    {
        string[] args = mode is "reproduce"
            ? ["fuzz", mode, "--target", "guest-memory", option, "5", "input.bin"]
            : ["fuzz", mode, "--target", "guest-memory", "--runs", "1", option, "x"];
        if (mode is "afl" or "libfuzzer")
            args = ["fuzz", mode, "--target", "guest-memory", option, "x"];
        var (code, _, e) = CliRunner.Run(args);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains(
            $"virtsim: {option} does not apply to 'fuzz {mode}' (it is an option of fuzz ",
            e,
            StringComparison.Ordinal
        );
        Assert.Contains($"usage: see 'virtsim fuzz {mode} --help'", e, StringComparison.Ordinal);
    }

    [Fact]
    public void OldModeFlags_WithAnOptionThatDoesNotApply_AreRefused_NotIgnored()
    {
        var (code, _, e) = CliRunner.Run("fuzz", "--target", "guest-memory", "--reproduce", "in.bin", "--runs", "5");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("--runs does not apply to 'fuzz reproduce'", e, StringComparison.Ordinal);
        (code, _, e) = CliRunner.Run("fuzz", "--target", "guest-memory", "--afl", "--libfuzzer-driver");
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Contains("--afl and --libfuzzer-driver are different modes", e, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("run --target guest-memory", "give --runs N or --time <duration>")]
    [InlineData("run --target guest-memory --runs 0", "--runs needs a positive integer, got '0'")]
    [InlineData("run --target guest-memory --seed -3 --runs 1", "--seed needs an unsigned integer, got '-3'")]
    [InlineData("run --target guest-memory --time 2562048h", "--time is at most 8784h")]
    [InlineData("run --target guest-memory --time soon", "--time needs a duration")]
    [InlineData("run --target guest-memory --max-len 2000000 --runs 1", "--max-len is at most 1048576")]
    [InlineData("run --target guest-memory --flavour evil --runs 1", "--flavour is robust or seed, got 'evil'")]
    [InlineData("run --target guest-memory --jobs 2 --runs 1", "--jobs applies to a campaign; add -o")]
    [InlineData("run --target guest-memory -o camp --corpus c --runs 1", "--corpus does not apply to a campaign")]
    [InlineData("run --target guest-memory -o camp --jobs 999 --runs 1", "--jobs is at most 256")]
    [InlineData("run --target guest-memory -o camp --status loud --runs 1", "--status is auto, screen or plain")]
    [InlineData("run --runs 1", "Option '--target' is required")]
    [InlineData("run --target guest-memory --runs 1 --bogus", "unknown option '--bogus' for 'fuzz run'")]
    [InlineData("reproduce --target guest-memory", "Required argument 'input' missing")]
    [InlineData("no-such-mode", "no-such-mode")]
    [InlineData("", "Required command was not provided")]
    public void UsageErrors_ArePrefixedAndExit2(string line, string expected)
    {
        string[] args = ["fuzz", .. line.Split(' ', StringSplitOptions.RemoveEmptyEntries)];
        var (code, o, e) = CliRunner.Run(args);
        Assert.Equal(ExitCodes.UsageOrInput, code);
        Assert.Equal("", o);
        Assert.StartsWith("virtsim: ", e, StringComparison.Ordinal);
        Assert.Contains(expected, e, StringComparison.Ordinal);
    }

    [Fact]
    public void ListAndOldList_PrintTheSameTargets()
    {
        var (code, o, _) = CliRunner.Run("fuzz", "list");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("guest-memory ", o, StringComparison.Ordinal);
        Assert.Equal(o, CliRunner.Run("fuzz", "--list").Out);
    }

    [Fact]
    public void RunAndItsOldForm_RunTheSameCampaign_AndTheRepeatLineUsesTheNewForm()
    {
        using TempDir dir = CliRunner.TempDir();
        var (code, o, e) = CliRunner.Run(
            "fuzz",
            "run",
            "--target",
            "guest-memory",
            "--seed",
            "7",
            "--runs",
            "300",
            "--no-coverage",
            "--findings",
            dir.File("f1")
        );
        Assert.True(code == ExitCodes.Ok, e);
        Assert.Contains(
            "repeat: virtsim fuzz run --target guest-memory --seed 7 --runs 300",
            o,
            StringComparison.Ordinal
        );
        var (code2, o2, _) = CliRunner.Run(
            "fuzz",
            "--target=guest-memory",
            "--seed",
            "7",
            "--runs",
            "300",
            "--no-coverage",
            "--findings",
            dir.File("f1")
        );
        Assert.Equal(code, code2);
        static string Last(string s) =>
            string.Join(
                ' ',
                s.TrimEnd()
                    .Split('\n')[^1]
                    .Split(' ')
                    .Where(p => !p.StartsWith("exec_per_s=", StringComparison.Ordinal))
            );
        Assert.Equal(Last(o), Last(o2));
    }

    [Fact]
    public void Reproduce_TakesTheInputAsAnArgument_AndTheOldFlag()
    {
        using TempDir dir = CliRunner.TempDir();
        string input = dir.File("-dash.bin");
        File.WriteAllBytes(input, [1, 2, 3]);
        var (code, o, e) = CliRunner.Run("fuzz", "reproduce", "--target", "guest-memory", "--", input);
        Assert.True(code is 0 or 1, e);
        Assert.Contains($"reproduce: target=guest-memory input={input} (3 bytes)", o, StringComparison.Ordinal);
        var (code2, o2, _) = CliRunner.Run("fuzz", "--target", "guest-memory", "--reproduce", input);
        Assert.Equal(code, code2);
        // The same verdict line (the allocation count in it varies with what the JIT has already done).
        static string Verdict(string s) =>
            System.Text.RegularExpressions.Regex.Replace(s, @"\d+ bytes allocated", "N bytes allocated");
        Assert.Equal(Verdict(o), Verdict(o2));
    }

    [Fact]
    public void TheFuzzerParsesItsOwnCommandLine_AndCarriesItIntoTheLoadContextUnchanged()
    {
        Virtsim.Fuzz.Entry.FuzzParse parse = Virtsim.Fuzz.Entry.FuzzCommandLine.Parse([
            "run",
            "--target",
            "virtio-demo",
            "--backend",
            "vhost",
            "--flavour",
            "seed",
            "--seed",
            "9",
            "--time",
            "90s",
            "-o",
            "camp",
            "-j",
            "2",
            "--machine",
            "m1",
            "--max-len",
            "64",
            "--no-minimize",
        ]);
        Virtsim.Fuzz.Entry.FuzzInvocation invocation = Assert.IsType<Virtsim.Fuzz.Entry.FuzzInvocation>(
            parse.Invocation
        );
        Assert.Equal("virtio-demo-vhost-seed", invocation.Options.Target);
        Assert.Equal(TimeSpan.FromSeconds(90), invocation.Options.Time);
        Assert.Equal(2, invocation.Campaign.Jobs);
        Assert.True(invocation.IsSupervisor);
        Virtsim.Fuzz.Entry.FuzzInvocation carried = Virtsim.Fuzz.Entry.LoadContextTransfer.Import(
            Virtsim.Fuzz.Entry.LoadContextTransfer.Export(invocation)
        );
        Assert.Equal(invocation.Campaign, carried.Campaign);
        Assert.Equal(invocation.Options with { CommandLine = [] }, carried.Options with { CommandLine = [] });
        Assert.Equal(invocation.Options.CommandLine, carried.Options.CommandLine);
        // What a campaign hands each worker parses back to the same engine options.
        Virtsim.Fuzz.Entry.FuzzParse worker = Virtsim.Fuzz.Entry.FuzzCommandLine.Parse([
            "worker",
            "--target",
            "virtio-demo-vhost-seed",
            "-o",
            "camp",
            "--name",
            "w0",
            .. invocation.Options.EngineArguments(withTime: true),
        ]);
        Assert.Empty(worker.Errors);
        Assert.Equal(64, worker.Invocation!.Options.MaxLength);
        Assert.True(worker.Invocation.Options.NoMinimize);
        Assert.Equal(TimeSpan.FromSeconds(90), worker.Invocation.Options.Time);
    }
}
