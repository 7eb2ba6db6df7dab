namespace Virtsim.Fuzz.Qemu;

/// <summary>One way the model's and QEMU's observations of an input differ, whatever the device
/// (<see cref="BlkDifference"/>, <see cref="RngDifference"/>, <see cref="NetDifference"/>): <see cref="Kind"/> is a
/// stable name (finding sites are built from it), <see cref="Detail"/> says what each half showed.</summary>
internal interface IQemuDifference
{
    /// <summary>The comparison's constant for this kind of difference.</summary>
    string Kind { get; }

    /// <summary>What the model and QEMU showed.</summary>
    string Detail { get; }
}
