// tools/castwrap: usage `dotnet run --project tools/castwrap -- src/Sim.Engine src/Sim.Machine src/Sim.Spec src/Sim.Devices src/Sim.Guest src/Sim.Scenarios`.
// The simulation projects compile with CheckForOverflowUnderflow (arithmetic overflow throws), but an
// explicit integral cast means truncation there, as Rust's `as` does in rust-vmm: the bounds idiom
// `(uint)i < (uint)length` and byte-lane extraction rely on it. This wraps such casts in unchecked(...).
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

// Wraps explicit integral casts in unchecked(...) so they truncate like Rust's `as`, while
// arithmetic stays checked. Idempotent: casts already inside unchecked/checked are left alone.
var integral = new HashSet<string> { "byte", "sbyte", "short", "ushort", "int", "uint", "long", "ulong", "nint", "nuint", "char" };
int total = 0;
foreach (var dir in args)
foreach (var file in Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories))
{
    if (file.Contains("/obj/") || file.Contains("/bin/")) continue;
    var text = File.ReadAllText(file);
    var tree = CSharpSyntaxTree.ParseText(text, new CSharpParseOptions(LanguageVersion.Preview));
    var root = tree.GetRoot();
    var targets = root.DescendantNodes().OfType<CastExpressionSyntax>().Where(c =>
        c.Type is PredefinedTypeSyntax p && integral.Contains(p.Keyword.Text)
        && c.Expression is not LiteralExpressionSyntax
        && !(c.Expression is PrefixUnaryExpressionSyntax pu && pu.Operand is LiteralExpressionSyntax)
        && !c.Ancestors().Any(a => a is CheckedExpressionSyntax || a is CheckedStatementSyntax)
        && !c.Ancestors().Any(a => a is AttributeSyntax)
        && !IsConstantContext(c)).ToList();
    if (targets.Count == 0) continue;
    // Only outermost casts: a cast nested in another target cast is covered by the outer unchecked.
    var outer = targets.Where(c => !c.Ancestors().OfType<CastExpressionSyntax>().Any(a => targets.Contains(a))).ToList();
    var newRoot = root.ReplaceNodes(outer, (orig, _) =>
        SyntaxFactory.CheckedExpression(SyntaxKind.UncheckedExpression, orig.WithoutTrivia())
            .WithLeadingTrivia(orig.GetLeadingTrivia()).WithTrailingTrivia(orig.GetTrailingTrivia()));
    File.WriteAllText(file, newRoot.ToFullString());
    total += outer.Count;
    Console.WriteLine($"{outer.Count,4} {file}");
}
Console.WriteLine($"wrapped {total} casts");

static bool IsConstantContext(SyntaxNode n) =>
    n.Ancestors().Any(a => a is FieldDeclarationSyntax f && f.Modifiers.Any(m => m.IsKind(SyntaxKind.ConstKeyword))
        || a is LocalDeclarationStatementSyntax l && l.Modifiers.Any(m => m.IsKind(SyntaxKind.ConstKeyword))
        || a is CaseSwitchLabelSyntax || a is ConstantPatternSyntax || a is ParameterSyntax);
