namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// What one side of the rng differential pair shows after an input: the guest's 64 KiB (rings, used entries (id, len),
/// entropy the device wrote), whether the device is broken, the device status byte and the ISR (read, so cleared).
/// On the model side <see cref="Entropy"/> marks the bytes the device wrote outside its used rings: their values are
/// entropy and differ by nature, so the comparison skips them (which bytes were written shows through used.len and
/// through QEMU bytes that changed outside the marked ones).
/// </summary>
internal sealed class RngObservation : LockstepObservation
{
    public RngObservation(int memoryBytes)
        : base(memoryBytes) => Entropy = new bool[memoryBytes];

    public bool[] Entropy { get; }
}
