using Microsoft.Win32.SafeHandles;

namespace Virtsim.Fuzz.Glue;

/// <summary>
/// Where afl-fuzz leaves each test case for a target that does not fork. Without <c>@@</c> on the command line
/// afl-fuzz makes the target's stdin its <c>.cur_input</c> file and, before every run, rewrites it, truncates it
/// to the new length and seeks to 0 (afl-forkserver.c <c>afl_fsrv_write_to_testcase</c>), so we read it with
/// positioned reads from offset 0 up to its current length. With <c>@@</c> it unlinks and recreates the named
/// file each run, so we reopen it by path every time. Reads go into one reusable buffer.
/// </summary>
internal sealed class AflInput
{
    /// <summary>AFL's own <c>MAX_FILE</c> (1 MiB): afl-fuzz never writes a longer test case.</summary>
    public const int InputBytesMax = 1 << 20;

    private readonly string? _path;
    private readonly SafeFileHandle? _handle;
    private readonly byte[] _buffer = new byte[InputBytesMax];

    private AflInput(string? path, SafeFileHandle? handle)
    {
        _path = path;
        _handle = handle;
    }

    /// <summary>What the engine logs: "stdin" or the path.</summary>
    public string Description => _path ?? "stdin";

    /// <summary>The file afl-fuzz substitutes for <c>@@</c>.</summary>
    public static AflInput FromPath(string path) => new(path, null);

    /// <summary>An open regular file (stdin under afl-fuzz); false when it is a pipe or terminal, which positioned
    /// reads cannot rewind.</summary>
    public static bool TryFromHandle(SafeFileHandle handle, out AflInput? input)
    {
        try
        {
            _ = RandomAccess.GetLength(handle);
            input = handle.IsInvalid || handle.IsClosed ? null : new AflInput(null, handle);
            // A pipe reports length 0 and cannot be read at an offset; probe it.
            if (input is not null)
                _ = RandomAccess.Read(handle, Span<byte>.Empty, 0);
        }
        catch (Exception e)
            when (e is IOException or NotSupportedException or UnauthorizedAccessException or ArgumentException)
        {
            input = null;
        }
        return input is not null;
    }

    /// <summary>Standard input, when it is a regular file.</summary>
    public static bool TryFromStdin(out AflInput? input) =>
        TryFromHandle(new SafeFileHandle(0, ownsHandle: false), out input);

    /// <summary>Reads the current test case (its first <see cref="InputBytesMax"/> bytes); false with a reason when
    /// the file is gone or unreadable.</summary>
    public bool TryRead(out ReadOnlyMemory<byte> input, out string? error)
    {
        try
        {
            if (_handle is not null)
            {
                input = ReadAll(_handle);
            }
            else
            {
                using SafeFileHandle file = File.OpenHandle(
                    _path!,
                    FileMode.Open,
                    FileAccess.Read,
                    FileShare.ReadWrite | FileShare.Delete
                );
                input = ReadAll(file);
            }
            error = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            input = ReadOnlyMemory<byte>.Empty;
            error = $"cannot read the test case from {Description}: {e.Message}";
            return false;
        }
    }

    private ReadOnlyMemory<byte> ReadAll(SafeFileHandle file)
    {
        long length = Math.Min(RandomAccess.GetLength(file), InputBytesMax);
        int total = 0;
        while (total < length)
        {
            int n = RandomAccess.Read(file, _buffer.AsSpan(total, (int)length - total), total);
            if (n == 0)
                break; // Shrunk under us: what is there is the input.
            total += n;
        }
        return _buffer.AsMemory(0, total);
    }
}
