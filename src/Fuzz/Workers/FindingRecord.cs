namespace Virtsim.Fuzz.Workers;

/// <summary>One saved finding as its summary tells it.</summary>
public sealed record FindingRecord(
    string Target,
    string Oracle,
    string Site,
    string Rule,
    string Message,
    string Directory,
    DateTime SavedUtc,
    string Reproduce,
    string Replay,
    string Shape = ""
);
