namespace Cli.Commands;

/// <summary>Opening and finding trace files, with user-facing errors.</summary>
internal static class TraceFiles
{
    /// <summary>The file extension of virtsim traces.</summary>
    public const string Extension = ".vtrace";

    public static FileStream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new CliInputException($"cannot open '{path}': {ex.Message}");
        }
    }

    /// <summary>The traces a path names: the file itself, or every *.vtrace under a directory
    /// (recursively, in ordinal path order so the listing is stable).</summary>
    public static IReadOnlyList<string> Expand(string path)
    {
        if (File.Exists(path)) return [path];
        if (Directory.Exists(path))
        {
            return Directory.EnumerateFiles(path, "*" + Extension, SearchOption.AllDirectories)
                .Order(StringComparer.Ordinal)
                .ToArray();
        }
        throw new CliInputException($"'{path}' is neither a trace file nor a directory");
    }
}
