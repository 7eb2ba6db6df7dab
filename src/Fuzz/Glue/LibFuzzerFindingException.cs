namespace Virtsim.Fuzz.Glue;

/// <summary>What <see cref="LibFuzzerRunner"/>'s callback throws for a finding: SharpFuzz's
/// <c>Fuzzer.LibFuzzer.Run</c> reports an exception escaping its callback to the driver as a crash, and this is
/// the only way a callback can report anything. The message is the finding's one-line description.</summary>
internal sealed class LibFuzzerFindingException : Exception
{
    public LibFuzzerFindingException() { }

    public LibFuzzerFindingException(string message)
        : base(message) { }

    public LibFuzzerFindingException(string message, Exception innerException)
        : base(message, innerException) { }
}
