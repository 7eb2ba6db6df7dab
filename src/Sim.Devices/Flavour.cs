namespace Sim.Devices;

/// <summary>
/// Which behaviour a device model reproduces. Every device offers both; each documents, next to
/// the code that differs, what its <see cref="Seed"/> flavour does differently and why.
/// </summary>
public enum Flavour : byte
{
    /// <summary>The behaviour we recommend: the seed's intent with its flaws fixed (bounds checked,
    /// explicit endianness and access sizes, state reset on device reset). The default.</summary>
    Robust = 0,

    /// <summary>Exactly what the seed document's code does when run under QEMU/Linux, flaws included,
    /// so that traces recorded from the seed code replay byte for byte and the fuzzer can find them.</summary>
    Seed = 1,
}
