using System.CommandLine;
using Sim.Engine.Time;
using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Virtsim.Cli.Replay;

namespace Virtsim.Cli.Commands;

/// <summary><c>virtsim run &lt;scenario&gt;</c>: runs a built-in scenario and prints what the guest printed
/// and the run's counters; <c>--trace</c> writes a trace that <c>virtsim replay</c> verifies.</summary>
internal static class RunCommand
{
    public static Command Build(CliApp app)
    {
        var scenario = new Argument<string?>("scenario")
        {
            Description = "Scenario to run (see --list)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var seed = new Option<ulong>("--seed")
        {
            Description = "Root seed: one seed reproduces a run",
            DefaultValueFactory = _ => 1,
        };
        var trace = new Option<string?>("--trace", "-t")
        {
            Description = "Write the run's trace to this file (MessagePack, see traces/README.md)",
        };
        var force = new Option<bool>("--force") { Description = "Replace an existing --trace file" };
        var opt = new Option<string[]>("--opt", "-O")
        {
            Description =
                "Scenario option key=value (repeatable), e.g. --opt requests=64; each scenario's options: "
                + "run <scenario> --help or run --list",
            AllowMultipleArgumentsPerToken = false,
            DefaultValueFactory = _ => [],
        };
        var list = new Option<bool>("--list")
        {
            Description =
                "List the scenarios, one per line, name first, each followed by its --opt options "
                + "(default, allowed values)",
        };
        var listTraces = new Option<bool>("--list-traces")
        {
            Description =
                "List the committed simulated traces, one per line: name|run arguments "
                + "(what scripts/regen-traces makes)",
        };
        var cmd = new Command("run", "Run a built-in scenario: a simulated guest driver against a device model")
        {
            scenario,
            seed,
            trace,
            force,
            opt,
            list,
            listTraces,
        };
        cmd.SetAction(pr =>
        {
            if (pr.GetValue(listTraces))
                return ListTraces(app);
            if (pr.GetValue(list))
                return ListScenarios(app);
            string? name = pr.GetValue(scenario);
            if (name is null)
                throw new CliInputException($"name a scenario: {ScenarioCatalog.Names} (virtsim run --list)");
            IScenario sc = ScenarioCatalog.Find(name)
                ?? throw new CliInputException($"unknown scenario '{name}'; known: {ScenarioCatalog.Names}");
            ScenarioOptions options = ScenarioOptionParser.Parse(pr.GetValue(seed), pr.GetValue(opt) ?? []);
            return Execute(app, sc, options, pr.GetValue(trace), pr.GetValue(force));
        });
        return cmd;
    }

    private static int ListTraces(CliApp app)
    {
        foreach (TraceRecipe t in DeviceCatalog.AllTraces)
            app.Out.WriteLine($"{t.Name}|{t.Arguments}");
        return ExitCodes.Ok;
    }

    private static int ListScenarios(CliApp app)
    {
        foreach (IScenario s in ScenarioCatalog.All)
        {
            app.Out.WriteLine($"{s.Name, -12} {s.Description}");
            foreach (ScenarioOption o in s.Options)
                app.Out.WriteLine($"    --opt {o}");
        }
        return ExitCodes.Ok;
    }

    /// <summary>The options section <c>run &lt;scenario&gt; --help</c> adds after the command's help.</summary>
    public static void WriteScenarioHelp(TextWriter output, IScenario scenario)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(scenario);
        output.WriteLine($"Scenario {scenario.Name}: {scenario.Description}");
        if (scenario.Options.Count == 0)
        {
            output.WriteLine("  (no --opt options)");
            return;
        }
        output.WriteLine("Scenario options (--opt name=value; name=default, allowed values in parentheses):");
        foreach (ScenarioOption o in scenario.Options)
            output.WriteLine($"  {o}");
    }

    private static int Execute(CliApp app, IScenario scenario, ScenarioOptions options, string? tracePath, bool force)
    {
        ScenarioRun run;
        try
        {
            run = scenario.Create(options);
        }
        catch (ArgumentException ex)
        {
            throw new CliInputException($"{scenario.Name}: {ex.Message}");
        }
        app.Out.WriteLine(
            $"scenario={scenario.Name} "
                + $"seed={options.Seed}{string.Concat(options.Named.Select(kv => $" {kv.Key}={kv.Value}"))}"
        );
        StopReason stop = StopReason.Idle;
        if (tracePath is null)
        {
            stop = run.Run();
        }
        else
        {
            string? error = SafeFile.Write(tracePath, force, stream =>
            {
                stop = ScenarioRecorder.RunWithTrace(scenario, options, run, stream);
                return null;
            });
            if (error is not null)
                throw new CliInputException(error);
        }
        foreach (string line in run.ReportLines())
            app.Out.WriteLine(line);
        if (tracePath is not null)
            app.Out.WriteLine(
                $"trace: {tracePath} ({new FileInfo(tracePath).Length} bytes, {run.Simulation.EventCount} events)"
            );
        if (stop is StopReason.EventLimit or StopReason.TimeLimit)
        {
            app.Err.WriteLine(
                $"virtsim: the run hit its {(stop == StopReason.EventLimit ? "event" : "time")} limit before the "
                    + $"guest finished (livelock?); reproduce: virtsim run {scenario.Name} --seed {options.Seed}"
            );
            return ExitCodes.Finding;
        }
        return ExitCodes.Ok;
    }
}
