using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Virtsim.Fuzz.Instrumentation;

/// <summary>
/// Which types of a target's assembly get SharpFuzz probes (SharpFuzz's matcher decides per type). Left out: types
/// with no control flow of their own — none of their hand-written methods branches, switches or throws (value types
/// such as <c>RingIndex</c>, <c>Descriptor</c>, <c>Iovec</c>; compiler-generated record members are not counted).
/// Their only probes would be method entries, each repeating the caller's path, and a probe makes a two-instruction
/// accessor too large for the JIT to inline; measured on split-virtqueue and virtio-blk, instrumenting them cost
/// about a third of the executions per CPU second (docs/fuzzing.md, "Coverage").
/// </summary>
internal static class InstrumentationScope
{
    /// <summary>The matcher for <paramref name="assemblyPath"/>: full type name (nested types <c>Outer/Inner</c>, as
    /// dnlib and Cecil both write them) → instrument it.</summary>
    public static Func<string, bool> For(string assemblyPath)
    {
        using ModuleDefinition module = ModuleDefinition.ReadModule(
            assemblyPath,
            new ReaderParameters { InMemory = true }
        );
        var included = new HashSet<string>(StringComparer.Ordinal);
        foreach (TypeDefinition type in module.GetTypes())
        {
            if (HasOwnControlFlow(type))
                included.Add(type.FullName);
        }
        return included.Contains;
    }

    /// <summary>True when some method of <paramref name="type"/> that the compiler did not generate branches,
    /// switches or throws.</summary>
    public static bool HasOwnControlFlow(TypeDefinition type)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (IsCompilerGenerated(type))
            return type.Methods.Any(m => m.HasBody && Branches(m.Body));
        foreach (MethodDefinition method in type.Methods)
        {
            if (!method.HasBody || IsCompilerGenerated(method))
                continue;
            if (Branches(method.Body))
                return true;
        }
        return false;
    }

    private static bool Branches(MethodBody body) =>
        body.HasExceptionHandlers
        || body.Instructions.Any(i =>
            i.OpCode.FlowControl is FlowControl.Branch or FlowControl.Cond_Branch or FlowControl.Throw
        );

    private static bool IsCompilerGenerated(ICustomAttributeProvider member) =>
        member.CustomAttributes.Any(a =>
            a.AttributeType.FullName == "System.Runtime.CompilerServices.CompilerGeneratedAttribute"
        );
}
