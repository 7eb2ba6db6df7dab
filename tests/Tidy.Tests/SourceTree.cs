namespace Tidy.Tests;

/// <summary>The repository's C# sources under src/ and tests/ (bin/ and obj/ left out), as
/// repository-relative paths with '/' separators, in ordinal order so reports are stable.</summary>
public static class SourceTree
{
    public static string Root { get; } = FindRoot();

    public static IReadOnlyList<string> CSharpFiles()
    {
        var files = new List<string>();
        foreach (var top in new[] { "src", "tests" })
        {
            var dir = Path.Combine(Root, top);
            foreach (var path in Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(Root, path).Replace('\\', '/');
                if (rel.Contains("/bin/", StringComparison.Ordinal) || rel.Contains("/obj/", StringComparison.Ordinal))
                    continue;
                files.Add(rel);
            }
        }
        files.Sort(StringComparer.Ordinal);
        return files;
    }

    public static string Read(string relativePath) => File.ReadAllText(Path.Combine(Root, relativePath));

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "virtsim.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException("tidy: virtsim.slnx not found above " + AppContext.BaseDirectory);
    }
}
