using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Tidy.Tests;

/// <summary>The three tidy scans over one file's text. Each returns its offenders as
/// "path:line: what" strings, in file order.</summary>
public static class Scanners
{
    public const int MaxColumns = 120;
    public const int MaxMethodLines = 70;

    /// <summary>Files whose unchecked arithmetic is the point: the ring-index and ring-byte
    /// helpers (free-running 16-bit indices, VIRTIO 1.2 §2.7.13.5) and the measured fast paths.</summary>
    public static readonly string[] UncheckedHomes =
    [
        "src/Sim.Engine/Narrow.cs",
        "src/Sim.Spec/Virtio/RingIndex.cs",
        "src/Sim.Spec/Virtio/RingBytes.cs",
        "src/Sim.Devices/Virtio/Queue/SplitQueue.Fast.cs",
        "src/Sim.Guest/Virtio/DriverQueue.Batch.cs",
    ];

    public static IEnumerable<string> LongLines(string path, string text)
    {
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var length = lines[i].TrimEnd('\r').Length;
            if (length > MaxColumns)
                yield return $"{path}:{i + 1}: {length} columns";
        }
    }

    public static IEnumerable<string> LongMethods(string path, string text)
    {
        var tree = CSharpSyntaxTree.ParseText(text, path: path);
        foreach (var node in tree.GetRoot().DescendantNodes())
        {
            if (node is not BaseMethodDeclarationSyntax method)
                continue;
            var span = tree.GetLineSpan(method.Span);
            var lines = span.EndLinePosition.Line - span.StartLinePosition.Line + 1;
            if (lines > MaxMethodLines)
                yield return $"{path}:{span.StartLinePosition.Line + 1}: {Name(method)} is {lines} lines";
        }
    }

    public static IEnumerable<string> Unchecked(string path, string text)
    {
        if (UncheckedHomes.Contains(path, StringComparer.Ordinal))
            yield break;
        var tree = CSharpSyntaxTree.ParseText(text, path: path);
        foreach (var token in tree.GetRoot().DescendantTokens())
        {
            if (token.IsKind(SyntaxKind.UncheckedKeyword))
                yield return $"{path}:{tree.GetLineSpan(token.Span).StartLinePosition.Line + 1}: unchecked";
        }
    }

    static string Name(BaseMethodDeclarationSyntax method) =>
        method switch
        {
            MethodDeclarationSyntax m => m.Identifier.Text,
            ConstructorDeclarationSyntax c => c.Identifier.Text + " (constructor)",
            OperatorDeclarationSyntax o => "operator " + o.OperatorToken.Text,
            _ => method.Kind().ToString(),
        };
}
