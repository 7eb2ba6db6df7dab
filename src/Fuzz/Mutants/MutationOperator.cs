namespace Virtsim.Fuzz.Mutants;

/// <summary>The IL mutation operators (the bug classes a reviewer injects by hand, issue 12).</summary>
public enum MutationOperator
{
    /// <summary>A conditional branch inverted (brtrue ↔ brfalse, beq ↔ bne, blt ↔ bge, ...): a check removed or turned
    /// around.</summary>
    NegateBranch,

    /// <summary>A strict comparison made non-strict or back (blt ↔ ble, bgt ↔ bge, clt/cgt against a bound): an
    /// off-by-one bound.</summary>
    BoundaryShift,

    /// <summary>A small integer constant (0..16) plus one: a wrong length, offset or count.</summary>
    ConstantPlusOne,

    /// <summary>A call to a method returning void removed (its arguments popped): a skipped completion, flush,
    /// dirty mark, notification or re-check; or a skipped store into a buffer (<c>BinaryPrimitives.Write*</c>,
    /// <c>Span.CopyTo</c>, <c>Clear</c>, <c>Fill</c>): a response field never set, a copy never made.</summary>
    RemoveVoidCall,
}
