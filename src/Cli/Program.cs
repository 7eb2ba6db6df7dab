using System.CommandLine;

namespace Cli;

/// <summary>Entry point of the <c>virtsim</c> command. Exit codes: 0 ok, 1 finding or divergence,
/// 2 usage or input error.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("virtsim: a deterministic record-replay simulator and fuzzer for virtual I/O");
        ParseResult parsed = root.Parse(args);
        return parsed.Invoke();
    }
}
