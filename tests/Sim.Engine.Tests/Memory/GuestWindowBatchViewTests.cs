using Sim.Engine.Memory;
using Xunit;

namespace Sim.Engine.Tests.Memory;

/// <summary>The batch views of <see cref="GuestWindow"/>: <see cref="GuestWindow.Bytes"/> and
/// <see cref="GuestWindow.WritableBytes"/> are the window's own guest bytes, and <see cref="GuestWindow.MarkWritten"/>
/// / <see cref="GuestWindow.MarkPagesWritten"/> mark exactly the pages named, never a page outside the
/// window.</summary>
public sealed class GuestWindowBatchViewTests
{
    private static GuestWindow Window(GuestMemory m, ulong at, int length)
    {
        Assert.True(m.TryGetWindow(new GuestAddress(at), length, out GuestWindow w));
        return w;
    }

    [Fact]
    public void Spans_AreTheWindowsGuestBytes()
    {
        GuestMemory m = GuestMemory.CreateFlat(0x10000);
        Assert.True(m.TryWriteUInt64(new GuestAddress(0x1ffc), 0x0807_0605_0403_0201UL));
        GuestWindow w = Window(m, 0x1ff8, 0x10);
        Assert.Equal(0x10, w.Bytes.Length);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0 }, w.Bytes.ToArray());
        m.ClearDirty();
        w.WritableBytes[15] = 0xAA;
        Assert.True(m.TryReadUInt8(new GuestAddress(0x2007), out byte b));
        Assert.Equal(0xAA, b);
        Assert.Empty(m.DirtyPages()); // span writes are untracked until reported
        w.MarkWritten(15, 1);
        Assert.Equal([new GuestAddress(0x2000)], m.DirtyPages());
        Assert.True(default(GuestWindow).Bytes.IsEmpty);
    }

    [Fact]
    public void MarkWritten_MarksEveryPageOfTheRange_AndRefusesRangesOutsideTheWindow()
    {
        GuestMemory m = GuestMemory.CreateFlat(0x20000);
        GuestWindow w = Window(m, 0x0ff0, 0x5000);
        m.ClearDirty();
        w.MarkWritten(0x0c, 0x3010); // 0x0ffc .. 0x400b: pages 0x0000 .. 0x4000
        Assert.Equal(new ulong[] { 0x0000, 0x1000, 0x2000, 0x3000, 0x4000 }, m.DirtyPages().Select(p => p.Value));
        m.ClearDirty();
        w.MarkWritten(0x20, 0);
        Assert.Empty(m.DirtyPages());
        Assert.Throws<ArgumentOutOfRangeException>(() => w.MarkWritten(0x4ff8, 0x10));
        Assert.Throws<ArgumentOutOfRangeException>(() => w.MarkWritten(-1, 4));
        Assert.Empty(m.DirtyPages());
    }

    [Fact]
    public void PageMask_NamesPagesFromTheWindowsFirstPage()
    {
        GuestMemory m = GuestMemory.CreateFlat(0x80000);
        GuestWindow w = Window(m, 0x1ff0, 0x2020); // bytes 0x1ff0 .. 0x400f: pages 1, 2, 3, 4 of memory
        Assert.Equal(0xff0, w.PageSkew);
        Assert.True(w.FitsPageMask);
        m.ClearDirty();
        // Window byte 0x10 lies in its second page (memory page 2), byte 0x2010 in its fourth (memory page 4).
        Assert.Equal(1, (w.PageSkew + 0x10) / GuestMemory.PageSize);
        w.MarkPagesWritten((1UL << 1) | (1UL << 3));
        Assert.Equal(new ulong[] { 0x2000, 0x4000 }, m.DirtyPages().Select(p => p.Value));
        m.ClearDirty();
        Assert.Throws<ArgumentOutOfRangeException>(() => w.MarkPagesWritten(1UL << 4)); // past the window's last page
        Assert.Empty(m.DirtyPages());
        Assert.False(Window(m, 0x10, 64 * GuestMemory.PageSize).FitsPageMask); // 65 pages
        Assert.True(Window(m, 0, 64 * GuestMemory.PageSize).FitsPageMask);
    }

    [Fact]
    public void FirstPageMark_MarksTheWindowsFirstPage_AsMarkWrittenDoes()
    {
        // Page 0x45 is bit 5 of the bitmap's second word: the mark locates word and bit, not only bit.
        GuestMemory m = GuestMemory.CreateFlat(0x80000);
        GuestWindow w = Window(m, 0x45f00, 0x100);
        m.ClearDirty();
        GuestPageMark mark = w.FirstPageMark;
        Assert.False(mark.IsEmpty);
        mark.Mark();
        Assert.Equal([new GuestAddress(0x45000)], m.DirtyPages());
        mark.Mark(); // already set: unchanged
        Assert.Equal([new GuestAddress(0x45000)], m.DirtyPages());
        m.ClearDirty();
        w.MarkWritten(0xf0, 0x10);
        Assert.Equal([new GuestAddress(0x45000)], m.DirtyPages());
        // A window across pages: the first page only.
        m.ClearDirty();
        Window(m, 0x1ff8, 0x10).FirstPageMark.Mark();
        Assert.Equal([new GuestAddress(0x1000)], m.DirtyPages());
        Assert.True(default(GuestWindow).FirstPageMark.IsEmpty);
        Assert.True(default(GuestWindow).WritableBytes.IsEmpty);
    }
}
