using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Lab;

/// <summary>The vhost-core mirror hook (the KVM lab puts the real kernel behind it): the mirror receives every
/// control-plane operation with the target's arguments, its own model judges it, and a mirror that answers like
/// Linux agrees everywhere while one that does not is caught.</summary>
public sealed class VhostCoreMirrorTests
{
    /// <summary>A mirror backed by a second simulated vhost-demo on its own simulation, at the same userspace
    /// addresses; <see cref="LieAbout"/> makes it return EINVAL for one ioctl.</summary>
    private sealed class SimulatedMirror : IVhostCoreMirror
    {
        private Simulation _sim = null!;
        private VhostDemo _demo = null!;
        private EventFd _kick = null!,
            _call = null!,
            _err = null!;

        public string? LieAbout { get; init; }

        public int Begins { get; private set; }

        public int Ends { get; private set; }

        public List<string> Calls { get; } = [];

        public void Begin(VmmAddressSpace vmm)
        {
            Begins++;
            _sim = RingSimulation.Create(VhostCoreTarget.EventsMax);
            var own = new VmmAddressSpace(_sim.Memory, vmm.HostBase);
            _demo = new VhostDemo(
                _sim,
                own,
                Flavour.Robust,
                new VhostOptions { MemRegionsMax = VhostCoreTarget.MemRegionsMax }
            );
            _kick = _sim.CreateEventFd(name: "kick");
            _call = _sim.CreateEventFd(name: "call");
            _err = _sim.CreateEventFd(name: "err");
        }

        public void End() => Ends++;

        private VhostResult Say(string ioctl, VhostResult r)
        {
            Calls.Add(ioctl);
            return ioctl == LieAbout ? VhostResult.Invalid : r;
        }

        private VhostDevice Dev => _demo.Device;

        public VhostResult SetOwner() => Say("SET_OWNER", Dev.SetOwner());

        public VhostResult ResetOwner() => Say("RESET_OWNER", Dev.ResetOwner());

        public VhostResult GetFeatures(out ulong features) => Say("GET_FEATURES", Dev.GetFeatures(out features));

        public VhostResult SetFeatures(ulong features) => Say("SET_FEATURES", Dev.SetFeatures(features));

        public VhostResult SetMemTable(ReadOnlySpan<VhostMemoryRegion> regions, uint padding) =>
            Say("SET_MEM_TABLE", Dev.SetMemTable(regions, padding));

        public VhostResult SetVringNum(uint index, uint num) => Say("SET_VRING_NUM", Dev.SetVringNum(index, num));

        public VhostResult SetVringAddr(uint index, in VhostVringAddr addr) =>
            Say("SET_VRING_ADDR", Dev.SetVringAddr(index, addr));

        public VhostResult SetVringBase(uint index, uint num) => Say("SET_VRING_BASE", Dev.SetVringBase(index, num));

        public VhostResult GetVringBase(uint index, out uint num) =>
            Say("GET_VRING_BASE", Dev.GetVringBase(index, out num));

        public VhostResult SetVringFd(VhostFdIoctl ioctl, uint index, VhostMirrorFd fd)
        {
            EventFd? e = fd switch
            {
                VhostMirrorFd.Kick => _kick,
                VhostMirrorFd.Call => _call,
                VhostMirrorFd.Err => _err,
                _ => null,
            };
            return ioctl switch
            {
                VhostFdIoctl.Kick => Say("SET_VRING_KICK", Dev.SetVringKick(index, e)),
                VhostFdIoctl.Call => Say("SET_VRING_CALL", Dev.SetVringCall(index, e)),
                _ => Say("SET_VRING_ERR", Dev.SetVringErr(index, e)),
            };
        }

        public VhostResult SetBackend(bool running) =>
            Say(running ? "SET_BACKEND" : "SET_BACKEND(-1)", _demo.SetRunning(running));

        public void Kick(GuestMemory memory)
        {
            Calls.Add("kick");
            var bytes = new byte[(int)RingInput.MemorySize];
            memory.TryRead(new GuestAddress(0), bytes);
            using (_sim.Memory.As(MemoryActor.Guest))
            {
                _sim.Memory.TryWrite(new GuestAddress(0), bytes);
                _kick.Signal();
            }
        }

        public void Flush() => _sim.Loop.Run(_sim.Now + VhostCoreTarget.RunWindowNs);
    }

    private static (List<VhostModelVerdict> Verdicts, SimulatedMirror Mirror) RunSeeds(string? lie)
    {
        var target = new VhostCoreTarget();
        var mirror = new SimulatedMirror { LieAbout = lie };
        var verdicts = new List<VhostModelVerdict>();
        target.Mirror = mirror;
        target.MirrorVerdict = verdicts.Add;
        foreach (byte[] seed in target.SeedCorpus())
        {
            var context = new FuzzContext();
            target.Execute(seed, context);
            Assert.Null(context.Finding);
        }
        return (verdicts, mirror);
    }

    [Fact]
    public void AMirrorAnsweringLikeLinux_AgreesOnEveryVerdict_AndSeesEveryOperation()
    {
        (List<VhostModelVerdict> verdicts, SimulatedMirror mirror) = RunSeeds(null);
        int seeds = new VhostCoreTarget().SeedCorpus().Count();
        Assert.Equal(seeds, mirror.Begins);
        Assert.Equal(seeds, mirror.Ends);
        Assert.All(verdicts, v => Assert.True(v.Agrees, $"{v.Ioctl}: expected {v.Expected}, got {v.Actual}"));
        // Every ioctl the mirror answered was judged (kicks are not ioctls).
        Assert.Equal(
            mirror.Calls.Count(c => c != "kick"),
            verdicts.Count(v => !v.Ioctl.EndsWith("(value)", StringComparison.Ordinal))
        );
        Assert.Contains("SET_MEM_TABLE", mirror.Calls);
        Assert.Contains("kick", mirror.Calls);
    }

    [Fact]
    public void AMirrorThatAnswersWrongly_IsCaughtByItsModel()
    {
        (List<VhostModelVerdict> verdicts, _) = RunSeeds("SET_VRING_NUM");
        VhostModelVerdict bad = verdicts.First(v => !v.Agrees);
        Assert.Equal("SET_VRING_NUM", bad.Ioctl);
        Assert.Equal("0", bad.Expected);
        Assert.Equal("-22 (Invalid)", bad.Actual);
    }
}
