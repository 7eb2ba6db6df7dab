using Virtsim.Fuzz.Engine;

namespace Virtsim.Cli.Commands;

/// <summary>Opening and finding trace files, with user-facing errors. Only regular files are read (a FIFO named
/// <c>*.vtrace</c> would block the reader forever), and a directory walk never follows a link to a directory (a
/// link loop replayed one trace dozens of times).</summary>
internal static class TraceFiles
{
    /// <summary>The file extension of virtsim traces.</summary>
    public const string Extension = ".vtrace";

    /// <summary>Directory levels a walk descends (far deeper than any real trace tree).</summary>
    private const int DepthMax = 64;

    public static FileStream OpenRead(string path)
    {
        switch (FileKinds.Of(path, followLinks: true))
        {
            case FileKind.Directory:
                throw new CliInputException($"cannot open '{path}': it is a directory");
            case FileKind.Other:
                throw new CliInputException(
                    $"cannot open '{path}': not a regular file (a FIFO, socket or device); traces are read from "
                        + "regular files"
                );
            default:
                break;
        }
        try
        {
            return new FileStream(
                path,
                FileMode.Open,
                FileAccess.Read,
                FileShare.Read,
                1 << 16,
                FileOptions.SequentialScan
            );
        }
        catch (Exception ex)
            when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new CliInputException($"cannot open '{path}': {ex.Message}");
        }
    }

    /// <summary>The traces a path names: the path itself when it is not a directory (<see cref="OpenRead"/> then
    /// refuses what is not a regular file), or every *.vtrace under a directory, in ordinal path order so the listing
    /// is stable. Links to files are followed; links to directories are not, and are named in
    /// <paramref name="skipped"/>.</summary>
    public static IReadOnlyList<string> Expand(string path, ICollection<string> skipped)
    {
        ArgumentNullException.ThrowIfNull(skipped);
        switch (FileKinds.Of(path, followLinks: true))
        {
            case FileKind.Missing:
                throw new CliInputException($"'{path}' is neither a trace file nor a directory");
            case FileKind.Directory:
                var found = new List<string>();
                Walk(path, 0, found, skipped);
                found.Sort(StringComparer.Ordinal);
                return found;
            default:
                return [path];
        }
    }

    private static void Walk(string directory, int depth, List<string> found, ICollection<string> skipped)
    {
        if (depth >= DepthMax)
        {
            skipped.Add($"{directory}: deeper than {DepthMax} levels, not searched");
            return;
        }
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateFileSystemEntries(directory).Order(StringComparer.Ordinal).ToArray();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            skipped.Add($"{directory}: cannot list it: {e.Message}");
            return;
        }
        foreach (string entry in entries)
        {
            FileKind kind = FileKinds.Of(entry, followLinks: false);
            if (kind == FileKind.Directory)
            {
                Walk(entry, depth + 1, found, skipped);
                continue;
            }
            if (kind == FileKind.SymbolicLink && FileKinds.Of(entry, followLinks: true) == FileKind.Directory)
            {
                skipped.Add($"{entry}: a link to a directory, not followed");
                continue;
            }
            // Regular files, links to them and non-regular *.vtrace entries (OpenRead reports those as errors).
            if (entry.EndsWith(Extension, StringComparison.Ordinal))
                found.Add(entry);
        }
    }
}
