using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Receive buffers for the net targets (valid <see cref="RingInput"/> v1 inputs for <c>virtio-net-qemu-robust</c>
/// too; ops drive receiveq1, and the source link offers frames of 60, 14, 1514, 42, 200 and 4096 bytes in turn):
/// chains that hold the 12-byte header and a frame, a batch, event-idx and indirect chains, a re-initialisation, and a
/// chain too small for its frame (the rx-small-chain-left-available row).
/// </summary>
public static class NetSeeds
{
    private const int Kick = 8;
    private const int Run = 9;
    private const int Reset = 10;

    public static IEnumerable<byte[]> All()
    {
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 64).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 64).AddChain(0, 1, 64).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3, eventIdx: true).AddChain(0, 2, 40).Op(Kick).AddChain(0, 1, 32)
            .Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 64, indirect: true, table: 1).Op(Kick).Op(Run).Build();
        yield return new RingScenarioBuilder(3).AddChain(0, 2, 64).Op(Kick).Op(Reset, flags: 1, index: 3)
            .AddChain(0, 1, 40).Op(Kick).Op(Run).Build();
        // A frame of 60 bytes into a chain of 16: the model drops it (used.len 0), QEMU 7.2 leaves the chain.
        yield return new RingScenarioBuilder(3).AddChain(0, 1, 16).Op(Kick).Op(Run).Build();
    }
}
