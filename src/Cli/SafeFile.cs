namespace Virtsim.Cli;

/// <summary>Writes user-facing output files without ever destroying what a user made: the data goes
/// to a temporary file beside the target and is renamed into place only when complete; an existing
/// target is kept unless the caller was told to overwrite it.</summary>
public static class SafeFile
{
    /// <summary>Creates <paramref name="path"/> through a temporary file. <paramref name="write"/> fills the
    /// stream; on success the file is moved into place. Returns an error message, or null.</summary>
    public static string? Write(string path, bool overwrite, Func<Stream, string?> write)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            return $"'{path}' is a directory";
        if (File.Exists(full) && !overwrite)
            return $"'{path}' exists; pass --force to replace it";
        // A missing directory is refused, not created: a typo in the path must not leave directories behind.
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            return $"cannot write '{path}': directory '{dir}' does not exist";
        string temp = full + $".tmp-{Environment.ProcessId}";
        string? error;
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                error = write(stream);
                stream.Flush(flushToDisk: true);
            }
            if (error is null)
                File.Move(temp, full, overwrite);
        }
        catch (IOException ex)
        {
            error = $"cannot write '{path}': {ex.Message}";
        }
        catch (UnauthorizedAccessException ex)
        {
            error = $"cannot write '{path}': {ex.Message}";
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
        return error;
    }
}
