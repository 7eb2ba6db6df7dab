using System.Numerics;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Tidy.Tests;

/// <summary>
/// Finds bare narrowing casts in the simulation projects. They compile with checked arithmetic
/// (Directory.Build.targets), so <c>(ushort)x</c> there throws when x does not fit: on a guest-controlled
/// value that is a host exception, not device behaviour. A deliberate truncation goes through a named
/// <c>Sim.Engine.Narrow</c> helper; a cast whose value must fit says so with <c>checked((T)x)</c>. The projects are
/// compiled together here, against the running framework only, to learn each operand's type (casts of types that do
/// not resolve are skipped).
/// </summary>
public static class NarrowingCasts
{
    /// <summary>The projects built with CheckForOverflowUnderflow (SimulationProject in their csproj).</summary>
    public static readonly string[] CheckedProjects =
    [
        "Sim.Engine",
        "Sim.Machine",
        "Sim.Spec",
        "Sim.Devices",
        "Sim.Guest",
        "Sim.Scenarios",
    ];

    public static List<string> Offenders(IReadOnlyList<string> files, Func<string, string> read)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(read(f), parse, path: f)).ToList();
        var usings =
            "global using System; global using System.Collections.Generic; global using System.IO; "
            + "global using System.Linq; global using System.Threading; global using System.Threading.Tasks;";
        var compilation = CSharpCompilation.Create(
            "tidy-narrowing",
            trees.Append(CSharpSyntaxTree.ParseText(usings, parse)),
            FrameworkReferences(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, checkOverflow: true, allowUnsafe: true)
        );
        var offenders = new List<string>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var cast in tree.GetRoot().DescendantNodes().OfType<CastExpressionSyntax>())
            {
                if (IsNarrowing(cast, model) && !InExplicitContext(cast))
                {
                    var line = tree.GetLineSpan(cast.Span).StartLinePosition.Line + 1;
                    offenders.Add($"{tree.FilePath}:{line}: {cast}");
                }
            }
        }
        return offenders;
    }

    static bool IsNarrowing(CastExpressionSyntax cast, SemanticModel model)
    {
        if (model.GetConstantValue(cast.Expression).HasValue)
            return false; // a constant that does not fit is a compile error in a checked context
        var source = model.GetTypeInfo(cast.Expression).Type;
        var target = model.GetTypeInfo(cast).Type;
        if (source is INamedTypeSymbol { TypeKind: TypeKind.Enum } e)
            source = e.EnumUnderlyingType;
        if (source is null || target is null)
            return false;
        return Range(source.SpecialType) is var (sLo, sHi)
            && Range(target.SpecialType) is var (tLo, tHi)
            && sHi >= sLo
            && tHi >= tLo
            && (sLo < tLo || sHi > tHi);
    }

    // unchecked code truncates on purpose (the ring helpers, Narrow itself); an explicit checked((T)x)
    // says the value must fit and a misfit is a host bug (an OverflowException), as an assertion would.
    static bool InExplicitContext(SyntaxNode node) =>
        node.Ancestors().Any(a => a is CheckedExpressionSyntax or CheckedStatementSyntax);

    static (BigInteger Lo, BigInteger Hi) Range(SpecialType type) =>
        type switch
        {
            SpecialType.System_Byte => (byte.MinValue, byte.MaxValue),
            SpecialType.System_SByte => (sbyte.MinValue, sbyte.MaxValue),
            SpecialType.System_UInt16 => (ushort.MinValue, ushort.MaxValue),
            SpecialType.System_Int16 => (short.MinValue, short.MaxValue),
            SpecialType.System_Char => (char.MinValue, char.MaxValue),
            SpecialType.System_UInt32 => (uint.MinValue, uint.MaxValue),
            SpecialType.System_Int32 => (int.MinValue, int.MaxValue),
            SpecialType.System_UInt64 => (ulong.MinValue, ulong.MaxValue),
            SpecialType.System_Int64 => (long.MinValue, long.MaxValue),
            _ => (BigInteger.One, BigInteger.Zero), // not integral: an empty range, never narrowing here
        };

    static IEnumerable<MetadataReference> FrameworkReferences() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Select(p => MetadataReference.CreateFromFile(p));
}
