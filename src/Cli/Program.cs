namespace Virtsim.Cli;

/// <summary>Entry point of the <c>virtsim</c> command.</summary>
public static class Program
{
    public static int Main(string[] args) => new CliApp(Console.Out, Console.Error).Run(args);
}
