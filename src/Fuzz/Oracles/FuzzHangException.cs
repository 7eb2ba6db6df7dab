namespace Virtsim.Fuzz.Oracles;

/// <summary>Thrown by <see cref="Targets.FuzzContext.Step()"/> when an execution exceeds its step budget, to
/// unwind a livelocked target without threads or timers. The engine turns it into a
/// <see cref="FuzzOracle.Hang"/> finding; targets must let it propagate.</summary>
internal sealed class FuzzHangException : Exception
{
    public FuzzHangException()
        : base("execution exceeded its step budget") { }

    public FuzzHangException(string message)
        : base(message) { }

    public FuzzHangException(string message, Exception innerException)
        : base(message, innerException) { }
}
