using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Entropy requests for the rng targets (valid <see cref="RingInput"/> v1 inputs for <c>virtio-rng-qemu-robust</c>
/// too): device-writable chains of one and two buffers, a batch, event-idx and indirect chains, a re-initialisation,
/// and the chains QEMU and the robust model treat differently (a driver-readable buffer; readable only).
/// </summary>
internal static class RngSeeds
{
    private const int Kick = 8;
    private const int Run = 9;
    private const int Reset = 10;

    public static IEnumerable<byte[]> All()
    {
        yield return new RingScenarioBuilder(3).AddChain(0, 1, 64).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 16).AddChain(0, 1, 8).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3, eventIdx: true)
            .AddChain(0, 1, 32)
            .Op(Kick)
            .AddChain(0, 1, 4)
            .AddChain(0, 2, 40)
            .Op(Kick)
            .Op(Run)
            .Build();
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 24, indirect: true, table: 1).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3)
            .AddChain(0, 1, 8)
            .Op(Kick)
            .Op(Reset, flags: 1, index: 3)
            .AddChain(0, 1, 16)
            .Op(Kick)
            .Op(Run)
            .Build();
        // Eight requests: the whole of QEMU's 8-entry queue in one kick.
        var full = new RingScenarioBuilder(3);
        for (int i = 0; i < 8; i++)
            full.AddChain(0, 1, (uint)(8 * (i + 1)));
        yield return full.Op(Kick).Op(Run).Build();
        // The differences the table explains: a driver-readable buffer in the chain; readable only.
        yield return new RingScenarioBuilder(3).AddChain(1, 1, 8).AddChain(0, 1, 8).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3).AddChain(1, 0, 8).Op(Kick).Op(Run).Build();
    }
}
