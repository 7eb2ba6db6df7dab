using Sim.Engine.Random;
using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Targets;

public sealed class TargetNamingTests
{
    [Theory]
    [InlineData("virtio-demo", "virtio-demo-qemu-robust")]
    [InlineData("virtio-demo-seed", "virtio-demo-qemu-seed")]
    [InlineData("virtio-demo-vhost", "virtio-demo-vhost-robust")]
    [InlineData("virtio-demo-vhost-seed", "virtio-demo-vhost-seed")]
    [InlineData("split-virtqueue", "split-virtqueue")]
    public void Create_FillsDefaults(string asked, string expected) =>
        Assert.Equal(expected, FuzzTargets.Create(asked)?.Name);

    [Fact]
    public void Options_BackendAndFlavour_FoldIntoTheTargetName()
    {
        Assert.True(
            FuzzOptions.TryParse(
                ["fuzz", "--target", "virtio-demo", "--backend", "vhost", "--flavour", "seed", "--runs", "1"],
                out FuzzOptions o,
                out _
            )
        );
        Assert.Equal("virtio-demo-vhost-seed", o.Target);
        Assert.False(
            FuzzOptions.TryParse(["--target", "x", "--flavour", "evil", "--runs", "1"], out _, out string? error)
        );
        Assert.Contains("robust or seed", error, StringComparison.Ordinal);
        Assert.False(FuzzOptions.TryParse(["--flavour", "seed"], out _, out _));
        Assert.True(
            FuzzOptions.TryParse(
                ["fuzz", "--target", "virtio-demo", "--backend", "diff", "--runs", "1"],
                out FuzzOptions d,
                out _
            )
        );
        Assert.Equal("virtio-demo-diff-robust", FuzzTargets.Create(d.Target!)?.Name);
        Assert.False(
            FuzzOptions.TryParse(
                ["fuzz", "--target", "virtio-demo", "--backend", "kvm", "--runs", "1"],
                out _,
                out string? backendError
            )
        );
        Assert.Contains("qemu, vhost or diff", backendError, StringComparison.Ordinal);
    }

    [Fact]
    public void ScenarioMutator_KeepsTheFraming()
    {
        var mutator = new ScenarioMutator();
        var prng = new Prng(7);
        byte[] buffer = new byte[4096];
        byte[] seed = RingSeeds.SplitVirtqueue().First();
        seed.CopyTo(buffer, 0);
        int length = seed.Length;
        for (int i = 0; i < 2000; i++)
        {
            length = mutator.Mutate(buffer, length, prng);
            Assert.InRange(length, RingInput.HeaderLength, buffer.Length);
            Assert.Equal(0, (length - RingInput.HeaderLength) % RingInput.OpLength);
        }
    }

    [Fact]
    public void EveryTarget_RunsItsSeedsDeterministically()
    {
        foreach (IFuzzTarget t in FuzzTargets.All)
        {
            foreach (byte[] seed in t.SeedCorpus())
            {
                var a = new FuzzContext();
                var b = new FuzzContext();
                FuzzOutcome first = t.Execute(seed, a);
                FuzzOutcome second = FuzzTargets.Create(t.Name)!.Execute(seed, b);
                Assert.Equal(first, second);
                Assert.Equal(a.Finding?.Site, b.Finding?.Site);
                Assert.Equal(a.Steps, b.Steps);
            }
        }
    }
}
