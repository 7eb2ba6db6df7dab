using System.Globalization;
using System.Runtime.InteropServices;

namespace Virtsim.Fuzz.Glue;

/// <summary>
/// A System V shared-memory segment attached into this process, seen as a <see cref="SafeBuffer"/> so it can be
/// written from a span without <c>unsafe</c>. The external engine (afl-fuzz, our libFuzzer driver) owns the
/// segment; we only attach and detach (under libFuzzer SharpFuzz's runner attaches it again and works in it).
/// <see cref="Create"/> makes a private segment for tests and fake engines.
/// </summary>
internal sealed class SharedMemoryMap : SafeBuffer
{
    private int _ownedId = -1;
    private UnmanagedMemoryStream? _view;

#pragma warning disable CA1419 // never returned by a P/Invoke (shmat returns a raw address); only TryAttach creates one
    private SharedMemoryMap()
        : base(ownsHandle: true) { }
#pragma warning restore CA1419

    /// <summary>Segment id (as in <c>__AFL_SHM_ID</c>).</summary>
    public int Id { get; private set; }

    /// <summary>Bytes this view covers (the engine's map size, at most the segment's).</summary>
    public int Size => checked((int)ByteLength);

    /// <summary>Attaches segment <paramref name="id"/> and views its first <paramref name="size"/> bytes; false
    /// with a reason when <c>shmat</c> refuses (no such segment, no permission).</summary>
    public static bool TryAttach(int id, int size, out SharedMemoryMap? map, out string? error)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        nint address = SharedMemoryNative.ShmAt(id, 0, 0);
        if (address == -1)
        {
            map = null;
            error =
                $"shmat({id}) failed: errno {Marshal.GetLastPInvokeError()} ({Marshal.GetLastPInvokeErrorMessage()})";
            return false;
        }
        map = new SharedMemoryMap { Id = id };
        map.SetHandle(address);
        map.Initialize((ulong)size);
        map._view = new UnmanagedMemoryStream(map, 0, size, FileAccess.ReadWrite);
        error = null;
        return true;
    }

    /// <summary>Creates, attaches and marks for removal a private segment of <paramref name="size"/> bytes (removal
    /// happens when the last process detaches): what a fake engine in a test does in place of afl-fuzz.</summary>
    public static SharedMemoryMap Create(int size)
    {
        int id = SharedMemoryNative.ShmGet(
            SharedMemoryNative.IpcPrivate,
            (nuint)size,
            SharedMemoryNative.CreateExclusiveOwnerOnly
        );
        if (id < 0)
            throw new IOException($"shmget({size}) failed: errno {Marshal.GetLastPInvokeError()}");
        if (!TryAttach(id, size, out SharedMemoryMap? map, out string? error))
        {
            _ = SharedMemoryNative.ShmCtl(id, SharedMemoryNative.IpcRemove, 0);
            throw new IOException(error);
        }
        map!._ownedId = id;
        return map;
    }

    /// <summary>Parses a segment id from an environment variable's text.</summary>
    public static bool TryParseId(string? text, out int id) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id);

    /// <summary>Copies <paramref name="data"/> to the start of the segment (at most <see cref="Size"/> bytes). Goes
    /// through an <see cref="UnmanagedMemoryStream"/> over this buffer, which is one memmove (about 4 µs for 64 KiB);
    /// <see cref="SafeBuffer.WriteSpan{T}"/> copies element by element and measured 40 times slower.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        UnmanagedMemoryStream view = _view!;
        view.Position = 0;
        view.Write(data.Length <= Size ? data : data[..Size]);
    }

    /// <summary>Copies <paramref name="data"/> into the segment at <paramref name="offset"/> (fake engines: the input
    /// after the map in libfuzzer-dotnet's layout).</summary>
    public void Write(int offset, ReadOnlySpan<byte> data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(data.Length, Size - offset, nameof(data));
        UnmanagedMemoryStream view = _view!;
        view.Position = offset;
        view.Write(data);
    }

    /// <summary>Copies the segment into <paramref name="destination"/> (tests, fake engines).</summary>
    public void Read(Span<byte> destination)
    {
        UnmanagedMemoryStream view = _view!;
        view.Position = 0;
        view.ReadExactly(destination.Length <= Size ? destination : destination[..Size]);
    }

    /// <summary>Zeroes the segment, as afl-fuzz does before each run.</summary>
    public void Clear() => Write(new byte[Size]);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _view?.Dispose();
        base.Dispose(disposing);
    }

    protected override bool ReleaseHandle()
    {
        bool ok = SharedMemoryNative.ShmDt(handle) == 0;
        if (_ownedId >= 0)
            ok &= SharedMemoryNative.ShmCtl(_ownedId, SharedMemoryNative.IpcRemove, 0) == 0;
        return ok;
    }
}
