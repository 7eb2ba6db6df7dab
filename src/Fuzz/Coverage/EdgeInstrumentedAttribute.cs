namespace Fuzz.Coverage;

/// <summary>Added by the instrumenter to every assembly it instruments, so the engine can tell instrumented
/// code from plain code at run time.</summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class EdgeInstrumentedAttribute : Attribute
{
    public EdgeInstrumentedAttribute(int blocks) => Blocks = blocks;

    /// <summary>Basic blocks instrumented in the assembly.</summary>
    public int Blocks { get; }
}
