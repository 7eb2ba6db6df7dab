namespace Virtsim.Fuzz.Mutation;

/// <summary>Boundary values that trip off-by-one and overflow checks (AFL's lists plus ring and address
/// edges).</summary>
internal static class InterestingValues
{
    public static readonly byte[] Int8 = [0x00, 0x01, 0x02, 0x10, 0x20, 0x40, 0x64, 0x7F, 0x80, 0x81, 0xFE, 0xFF];

    public static readonly ushort[] Int16 =
    [
        0,
        1,
        0x7F,
        0x80,
        0xFF,
        0x100,
        0x200,
        0x3E8,
        0x400,
        0x1000,
        0x7FFF,
        0x8000,
        0x8001,
        0xFFFE,
        0xFFFF,
    ];

    public static readonly uint[] Int32 =
    [
        0,
        1,
        0x7F,
        0x80,
        0xFF,
        0x8000,
        0xFFFF,
        0x10000,
        0x7FFFFFFF,
        0x80000000,
        0x80000001,
        0xFFFFFFFE,
        0xFFFFFFFF,
        0xFA0000FA,
        0x05FFFF05,
    ];

    public static readonly ulong[] Int64 =
    [
        0,
        1,
        0xFFFFFFFF,
        0x100000000,
        0x7FFFFFFFFFFFFFFF,
        0x8000000000000000,
        0xFFFFFFFFFFFFF000,
        0xFFFFFFFFFFFFFFFE,
        0xFFFFFFFFFFFFFFFF,
    ];
}
