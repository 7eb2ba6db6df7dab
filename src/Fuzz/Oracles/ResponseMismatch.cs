namespace Virtsim.Fuzz.Oracles;

/// <summary>What <see cref="DeviceReferenceModels"/> found wrong in one completed request: the oracle site and
/// why.</summary>
internal readonly record struct ResponseMismatch(string Site, string Message);
