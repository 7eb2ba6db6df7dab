namespace Virtsim.Fuzz.Coverage;

/// <summary>
/// The seam between the engine and whatever records coverage: SharpFuzz's edge instrumentation
/// (<see cref="EdgeCoverage"/>) or nothing (<see cref="NullCoverage"/>).
/// The engine calls <see cref="Begin"/> immediately before an execution and reads <see cref="Map"/>
/// immediately after; work between executions (mutation) is outside the window.
/// </summary>
internal interface ICoverage
{
    /// <summary>True when executions actually record edges.</summary>
    bool IsAvailable { get; }

    /// <summary>One line for logs: what records coverage, or why none is available.</summary>
    string Description { get; }

    /// <summary>Clears the map and the previous-block state.</summary>
    void Begin();

    /// <summary>AFL-style hit-count map of the last execution (empty when unavailable).</summary>
    ReadOnlySpan<byte> Map { get; }
}
