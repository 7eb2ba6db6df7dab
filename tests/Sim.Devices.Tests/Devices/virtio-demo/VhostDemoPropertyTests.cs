using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Devices.Tests.Pci;
using Sim.Devices.Vhost;
using Xunit;

namespace Sim.Devices.Tests.Vhost;

/// <summary>Robust vhost-demo against a reference model of the demo's request semantics (the same rules as the
/// robust QEMU-style virtio-demo device), through the whole path: DriverQueue → kick eventfd → worker →
/// vhost_get_vq_desc → used ring → call eventfd.</summary>
public sealed class VhostDemoPropertyTests
{
    /// <summary>A request: opt (biased to 0 and 1) and buff; batches of requests are published before one
    /// kick.</summary>
    private static readonly Gen<(uint Opt, uint Buff)> Request = Gen.Zip(
        Gen.Frequency(
            (4, Gen.Constant(0u)),
            (4, Gen.Constant(1u)),
            (1, Gen.Choose(2, int.MaxValue).Select(i => (uint)i))
        ),
        Gen.Choose(int.MinValue, int.MaxValue).Select(i => unchecked((uint)i))
    );

    private static readonly Gen<(bool EventIdx, (uint Opt, uint Buff)[][] Batches)> Scenario = Gen.Zip(
        Gen.Elements(false, true),
        Request.ArrayOf().Select(a => a.Take(16).ToArray()).ArrayOf().Select(b => b.Take(6).ToArray())
    );

    [Property(MaxTest = 60, Replay = "(1592590340,11400714819323198485)")]
    public Property Robust_ResponsesEqualReferenceModel()
    {
        return Prop.ForAll(Scenario.ToArbitrary(), s =>
        {
            var kit = new VhostKit(Flavour.Robust, queueSize: 64, eventIdx: s.EventIdx);
            uint model = VhostDemo.InitialBuff;
            foreach ((uint Opt, uint Buff)[] batch in s.Batches)
            {
                var pending = new List<(ushort Head, Sim.Engine.Memory.GuestAddress Resp, uint Opt, uint Buff)>();
                foreach ((uint opt, uint buff) in batch)
                {
                    var (head, resp) = kit.AddRequest(opt, buff);
                    pending.Add((head, resp, opt, buff));
                }
                kit.KickIfNeeded();
                kit.Run();
                var used = kit.Reap();
                if (used.Count != pending.Count)
                    return false;
                for (int k = 0; k < pending.Count; k++)
                {
                    var p = pending[k];
                    (uint, uint) expected;
                    switch (p.Opt)
                    {
                        case 0:
                            expected = (0, model);
                            break;
                        case 1:
                            model = p.Buff;
                            expected = (1, p.Buff);
                            break;
                        default:
                            expected = (p.Opt, p.Buff);
                            break;
                    }
                    if (used[k] != (p.Head, 8u))
                        return false;
                    if (kit.ReadResponse(p.Resp) != expected)
                        return false;
                }
            }
            return kit.Demo.Buff == model && kit.Vq.VqErrors == 0;
        });
    }
}
