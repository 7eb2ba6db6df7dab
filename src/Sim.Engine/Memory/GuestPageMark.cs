using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Sim.Engine.Memory;

/// <summary>
/// The dirty bit of one page of a <see cref="GuestWindow"/>, located once (<see cref="GuestWindow.FirstPageMark"/>):
/// <see cref="Mark"/> sets it as <see cref="GuestWindow.MarkWritten"/> would for any write inside that page, with no
/// offset arithmetic or range check per call. For code that writes many small fields of a structure it knows lies
/// inside one page (a ring whose window fits one page: issue 13 section 5) and reports them once per batch.
/// A region's dirty bitmap is fixed for the memory's life, like its bytes, so a mark stays valid with its window.
/// </summary>
public readonly struct GuestPageMark
{
    private readonly ulong[]? _bits;
    private readonly int _word;
    private readonly ulong _mask;

    internal GuestPageMark(ulong[] bits, uint page)
    {
        _bits = bits;
        _word = Narrow.AsInt32Bits(page >> 6);
        _mask = 1UL << Narrow.AsInt32Bits(page & 63);
    }

    /// <summary>True for the default (no) mark; <see cref="Mark"/> must not be called on it.</summary>
    public bool IsEmpty => _bits is null;

    /// <summary>Marks the page dirty (the word is stored only when its bit is clear, as
    /// <see cref="GuestMemory.MarkDirty"/> does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Mark()
    {
        // No bounds check: the constructor's page is one of its region's, and the bitmap has a bit for each.
        ref ulong word = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_bits!), _word);
        if ((word & _mask) == 0)
            word |= _mask;
    }
}
