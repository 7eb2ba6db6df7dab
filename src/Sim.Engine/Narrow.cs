using System.Runtime.CompilerServices;

namespace Sim.Engine;

/// <summary>
/// Named integral narrowing. The simulation projects compile with checked arithmetic, so a bare
/// narrowing cast there throws on an out-of-range value; every deliberate truncation goes through one
/// of these helpers instead, whose name says why dropping the high bits is right (as Rust's explicit
/// <c>as</c> and <c>Wrapping</c> do in rust-vmm). This file and the ring helpers are the only homes of
/// <c>unchecked</c> conversions (the Tidy tests hold that line).
/// </summary>
public static class Narrow
{
    /// <summary>The low 8 bits: one byte lane of a wider little-endian value or register.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte LowByte(int value) => unchecked((byte)value);

    /// <inheritdoc cref="LowByte(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte LowByte(uint value) => unchecked((byte)value);

    /// <inheritdoc cref="LowByte(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte LowByte(long value) => unchecked((byte)value);

    /// <inheritdoc cref="LowByte(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte LowByte(ulong value) => unchecked((byte)value);

    /// <summary>A sum or difference reduced modulo 2^8: byte arithmetic that wraps by definition
    /// (checksums, generated patterns, mutations).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte ToByteWrapping(int value) => unchecked((byte)value);

    /// <inheritdoc cref="ToByteWrapping(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte ToByteWrapping(long value) => unchecked((byte)value);

    /// <summary>The low 16 bits: a 16-bit field or lane of a wider value (a ring entry, a config register
    /// access of width 2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort LowUInt16(int value) => unchecked((ushort)value);

    /// <inheritdoc cref="LowUInt16(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort LowUInt16(uint value) => unchecked((ushort)value);

    /// <inheritdoc cref="LowUInt16(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort LowUInt16(long value) => unchecked((ushort)value);

    /// <inheritdoc cref="LowUInt16(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort LowUInt16(ulong value) => unchecked((ushort)value);

    /// <summary>A sum or difference reduced modulo 2^16: free-running 16-bit ring indices wrap by
    /// definition (VIRTIO 1.2 §2.7.6, §2.7.8; QEMU's <c>uint16_t</c> idx arithmetic).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToUInt16Wrapping(int value) => unchecked((ushort)value);

    /// <inheritdoc cref="ToUInt16Wrapping(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToUInt16Wrapping(uint value) => unchecked((ushort)value);

    /// <inheritdoc cref="ToUInt16Wrapping(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToUInt16Wrapping(long value) => unchecked((ushort)value);

    /// <inheritdoc cref="ToUInt16Wrapping(int)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ToUInt16Wrapping(ulong value) => unchecked((ushort)value);

    /// <summary>The low 32 bits: the low half of a 64-bit register or address (virtio-pci's 64-bit fields
    /// are accessed as two 32-bit halves, VIRTIO 1.2 §4.1.3.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint LowUInt32(long value) => unchecked((uint)value);

    /// <inheritdoc cref="LowUInt32(long)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint LowUInt32(ulong value) => unchecked((uint)value);

    /// <summary>A 64-bit sum or difference reduced modulo 2^32 (32-bit device arithmetic done in 64 bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ToUInt32Wrapping(long value) => unchecked((uint)value);

    /// <inheritdoc cref="ToUInt32Wrapping(long)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ToUInt32Wrapping(ulong value) => unchecked((uint)value);

    /// <summary>The same 32 bits read as unsigned: a negative index becomes huge, so the bounds idiom
    /// <c>AsUInt32Bits(i) &lt; (uint)length</c> rejects it with one compare.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint AsUInt32Bits(int value) => unchecked((uint)value);

    /// <summary>The same 32 bits read as signed (a register or wire field that is signed by definition).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int AsInt32Bits(uint value) => unchecked((int)value);

    /// <summary>The low 32 bits as a signed <c>int</c>: a count or offset already bounded to fit (by a
    /// <c>Math.Min</c> or a range check just before), converted without a second check.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LowInt32(long value) => unchecked((int)value);

    /// <inheritdoc cref="LowInt32(long)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int LowInt32(ulong value) => unchecked((int)value);

    /// <summary>A 64-bit sum or difference reduced modulo 2^32 and read as signed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ToInt32Wrapping(long value) => unchecked((int)value);

    /// <inheritdoc cref="ToInt32Wrapping(long)"/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ToInt32Wrapping(ulong value) => unchecked((int)value);

    /// <summary>The same 64 bits read as unsigned (two's complement; a signed value sign-extends first, as
    /// C's <c>(uint64_t)</c> does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong AsUInt64Bits(long value) => unchecked((ulong)value);

    /// <summary>The same 64 bits read as signed (a 64-bit wire field or seed that is signed by definition).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long AsInt64Bits(ulong value) => unchecked((long)value);
}
