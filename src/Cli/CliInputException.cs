namespace Virtsim.Cli;

/// <summary>Bad user input found while running a command (a missing file, a malformed option
/// value): printed as one line and turned into exit code 2.</summary>
public sealed class CliInputException : Exception
{
    public CliInputException(string message)
        : base(message) { }

    public CliInputException() { }

    public CliInputException(string message, Exception inner)
        : base(message, inner) { }
}
