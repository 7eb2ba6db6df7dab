using System.Runtime.InteropServices;

namespace Virtsim.Fuzz.Engine;

/// <summary>What kind of file system object a path names.</summary>
public enum FileKind
{
    /// <summary>Nothing there (or a dangling link, when links are followed).</summary>
    Missing,

    /// <summary>A regular file: the only kind a trace is read from.</summary>
    Regular,

    /// <summary>A directory.</summary>
    Directory,

    /// <summary>A symbolic link (only reported when links are not followed).</summary>
    SymbolicLink,

    /// <summary>A FIFO, socket or device: opening a FIFO for reading blocks until a writer appears.</summary>
    Other,
}

/// <summary>
/// The kind of a path, asked of the kernel without opening it (opening a FIFO would block). .NET reports only
/// file-or-directory, so on Linux this calls <c>statx(2)</c>, whose <c>struct statx</c> has one layout on every
/// architecture (<c>stx_mode</c>: the le16 at byte 28), unlike <c>struct stat</c>. Elsewhere it falls back to
/// .NET's view, which cannot tell a FIFO from a file.
/// </summary>
public static class FileKinds
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxType = 0x1;
    private const int StatxSize = 256;
    private const int StatxModeOffset = 28;
    private const int FileTypeMask = 0xF000;
    private const int FileTypeRegular = 0x8000;
    private const int FileTypeDirectory = 0x4000;
    private const int FileTypeLink = 0xA000;

    /// <summary>The kind of <paramref name="path"/>; <paramref name="followLinks"/> false reports a link
    /// itself.</summary>
    public static FileKind Of(string path, bool followLinks)
    {
        if (OperatingSystem.IsLinux())
        {
            byte[] buffer = new byte[StatxSize];
            try
            {
                if (Statx(AtFdCwd, path, followLinks ? 0 : AtSymlinkNoFollow, StatxType, buffer) != 0)
                    return FileKind.Missing;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                return Fallback(path, followLinks);
            }
            int type =
                System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(StatxModeOffset))
                & FileTypeMask;
            return type switch
            {
                FileTypeRegular => FileKind.Regular,
                FileTypeDirectory => FileKind.Directory,
                FileTypeLink => FileKind.SymbolicLink,
                _ => FileKind.Other,
            };
        }
        return Fallback(path, followLinks);
    }

    private static FileKind Fallback(string path, bool followLinks)
    {
        var info = new FileInfo(path);
        if (!followLinks && info.LinkTarget is not null)
            return FileKind.SymbolicLink;
        if (Directory.Exists(path))
            return FileKind.Directory;
        return File.Exists(path) ? FileKind.Regular : FileKind.Missing;
    }

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Statx(
        int dirfd,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string path,
        int flags,
        uint mask,
        byte[] buffer
    );
}
