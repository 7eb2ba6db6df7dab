namespace Virtsim.Fuzz.Instrumentation;

/// <summary>What <see cref="SharpFuzzInstrumenter"/> did to one assembly: types rewritten, probes inserted.</summary>
internal readonly record struct InstrumentationResult(string AssemblyName, int Types, int Blocks);
