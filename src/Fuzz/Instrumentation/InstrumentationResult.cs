namespace Fuzz.Instrumentation;

/// <summary>What <see cref="EdgeInstrumenter"/> did to one assembly.</summary>
public readonly record struct InstrumentationResult(string AssemblyName, int Methods, int Blocks);
