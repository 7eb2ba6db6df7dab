using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// Issue 12 item 4: <see cref="VhostWeightOracle"/> judges each handler run by the chains and bytes the vring fetched.
/// The robust vhost-demo handler on a ring with more chains than the packet weight yields at the weight and requeues
/// (clean); deliberately broken handlers — one that never asks vhost_exceeds_weight, one that stops at the weight
/// without requeueing, one that counts only the requests it answered in full — make it fire, and so does the
/// seed's handle_demo_kick (it passes pkts 0).
/// </summary>
public sealed class VhostWeightOracleTests
{
    private const int Size = 64;
    private const int Chains = 3 * VhostBackendRig.PacketWeight;

    /// <summary>A started robust vhost-demo whose ring holds <see cref="Chains"/> published chains of one readable
    /// buffer each (<paramref name="len"/> bytes: 8 is a full request, 4 a short one).</summary>
    private static VhostBackendRig Ring(Flavour flavour = Flavour.Robust, uint len = 8)
    {
        Simulation sim = RingSimulation.Create(VhostBackendRig.EventsMax);
        var rig = new VhostBackendRig(sim, flavour);
        (ulong desc, ulong avail, ulong used) = RingInput.Place(0, Size, 0);
        Assert.True(rig.Start(Size, desc, avail, used, 0, eventIdx: false));
        GuestMemory m = sim.Memory;
        for (int i = 0; i < Chains; i++)
        {
            ulong d = desc + (16UL * (ulong)i);
            Assert.True(m.TryWriteUInt64(new GuestAddress(d), RingInput.BufferBase + (16UL * (ulong)i)));
            Assert.True(m.TryWriteUInt32(new GuestAddress(d + 8), len));
            Assert.True(m.TryWriteUInt16(new GuestAddress(d + 12), 0));
        }
        var guest = new GuestActor();
        guest.Reset(m, desc, avail, Size);
        for (int i = 0; i < Chains; i++)
            guest.Publish((ushort)i);
        return rig;
    }

    /// <summary>One handler run of <paramref name="handler"/> under the oracle, as the worker runs it.</summary>
    private static VhostWeightOracle RunOnce(
        VhostBackendRig rig,
        IVhostKickHandler handler,
        VhostOptions? options = null
    )
    {
        var oracle = new VhostWeightOracle(handler, options ?? rig.Demo.Device.Options);
        ((IVhostKickHandler)oracle).HandleKick(rig.Vq);
        return oracle;
    }

    [Fact]
    public void Robust_YieldsAtPacketWeight_AndRequeues_IsClean()
    {
        VhostBackendRig rig = Ring();
        VhostWeightOracle oracle = RunOnce(rig, rig.Demo);
        Assert.Equal(0, oracle.Violations);
        Assert.Equal(VhostBackendRig.PacketWeight, rig.Vq.HeadsFetched);
        Assert.True(rig.Vq.Work!.Queued);
    }

    [Fact]
    public void Robust_ShortRequestsCountAsPackets_IsClean()
    {
        VhostBackendRig rig = Ring(len: 4);
        VhostWeightOracle oracle = RunOnce(rig, rig.Demo);
        Assert.Equal(0, oracle.Violations);
        Assert.Equal(VhostBackendRig.PacketWeight, rig.Vq.HeadsFetched);
    }

    [Fact]
    public void HandlerThatNeverAsksTheWeight_Fires()
    {
        VhostBackendRig rig = Ring();
        VhostWeightOracle oracle = RunOnce(rig, new BrokenHandler(BrokenHandler.Mode.NeverAsks));
        Assert.Equal("weight/chain-past-packet-weight", oracle.LastSite);
        Assert.Equal(Chains, rig.Vq.HeadsFetched);
    }

    [Fact]
    public void HandlerThatStopsAtTheWeightWithoutRequeue_Fires()
    {
        VhostBackendRig rig = Ring();
        VhostWeightOracle oracle = RunOnce(rig, new BrokenHandler(BrokenHandler.Mode.StopsWithoutRequeue));
        Assert.Equal("weight/no-requeue-at-weight", oracle.LastSite);
    }

    [Fact]
    public void HandlerThatCountsOnlyFullRequests_FiresOnShortOnes()
    {
        VhostBackendRig full = Ring(len: 8);
        Assert.Equal(0, RunOnce(full, new BrokenHandler(BrokenHandler.Mode.CountsOnlyFull)).Violations);
        VhostBackendRig shortOnes = Ring(len: 4);
        Assert.Equal(
            "weight/chain-past-packet-weight",
            RunOnce(shortOnes, new BrokenHandler(BrokenHandler.Mode.CountsOnlyFull)).LastSite
        );
    }

    [Fact]
    public void ByteWeight_AChainFetchedPastIt_Fires()
    {
        // The oracle is told a byte weight of 20 the device does not apply (its own is VHOST_NET_WEIGHT): the third
        // 8-byte chain is fetched after 16 bytes (clean), the fourth after 24 (past the weight).
        VhostBackendRig rig = Ring();
        var options = new VhostOptions { PacketWeight = VhostBackendRig.PacketWeight, ByteWeight = 20 };
        Assert.Equal("weight/chain-past-byte-weight", RunOnce(rig, rig.Demo, options).LastSite);
    }

    [Fact]
    public void Seed_PassesPktsZero_FiresThroughTheTarget()
    {
        // Through the target and the worker: one kick, one run window.
        byte[] input = Scenario();
        Assert.Null(FuzzReplay.Run(new VhostDemoTarget(Flavour.Robust), input).Finding);
        FindingReport? f = FuzzReplay.Run(new VhostDemoTarget(Flavour.Seed), input).Finding;
        Assert.Equal((VhostWeightOracle.Oracle, "weight/chain-past-packet-weight"), f?.Key);
    }

    /// <summary>A ring of 64 with <see cref="Chains"/> one-buffer chains (descriptor 0 published repeatedly), a kick
    /// and a run.</summary>
    private static byte[] Scenario()
    {
        var b = new RingScenarioBuilder(6);
        b.AddChain(1, 1, bufferLen: 8);
        for (int i = 1; i < Chains; i++)
            b.Publish(0);
        return b.Op(8).Op(9).Build();
    }

    /// <summary>vhost-demo's loop with the weight handling broken in one of three ways.</summary>
    private sealed class BrokenHandler(BrokenHandler.Mode mode) : IVhostKickHandler
    {
        public enum Mode
        {
            NeverAsks,
            StopsWithoutRequeue,
            CountsOnlyFull,
        }

        public void HandleKick(VhostVirtqueue vq)
        {
            int pkts = 0;
            for (int n = 0; n < 4 * Size; n++)
            {
                int head = vq.GetVqDesc(out int outN, out int inN);
                if (head < 0 || head == (int)vq.Num)
                    break;
                bool full = vq.IovLength(0, outN) >= VhostDemo.RequestSize;
                vq.AddUsed((uint)head, 0);
                if (mode == Mode.CountsOnlyFull && !full)
                    continue;
                pkts++;
                if (mode == Mode.StopsWithoutRequeue && pkts >= vq.Device.Options.PacketWeight)
                    break;
                if (mode != Mode.NeverAsks && vq.ExceedsWeight(pkts, 0))
                    break;
            }
        }
    }
}
