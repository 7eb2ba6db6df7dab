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

    /// <summary>Where each device's own sources live, one folder per device and one subfolder per layer
    /// (docs/adding-a-device.md).</summary>
    public const string DevicesFolder = "src/Devices/";

    /// <summary>A device folder's layer subfolders and the project each compiles into (by a glob in that project's
    /// csproj, so the project's rules apply to it).</summary>
    public static readonly IReadOnlyDictionary<string, string> DeviceLayers = new Dictionary<string, string>(
        StringComparer.Ordinal
    )
    {
        ["Spec"] = "Sim.Spec",
        ["Model"] = "Sim.Devices",
        ["Driver"] = "Sim.Guest",
        ["Scenario"] = "Sim.Scenarios",
        ["Fuzz"] = "Fuzz",
    };

    /// <summary>The project a file under src/ compiles into: the folder after src/, or for a file in
    /// <see cref="DevicesFolder"/> (device, then layer) the layer's project; null elsewhere, and for a device file
    /// outside the known layers (no project compiles it).</summary>
    public static string? ProjectOf(string file)
    {
        var parts = file.Split('/');
        if (parts.Length < 3 || parts[0] != "src")
            return null;
        if (file.StartsWith(DevicesFolder, StringComparison.Ordinal))
            return parts.Length > 4 && DeviceLayers.TryGetValue(parts[3], out var project) ? project : null;
        return parts[1];
    }

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
