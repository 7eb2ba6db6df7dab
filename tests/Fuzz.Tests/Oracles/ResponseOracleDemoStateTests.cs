using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Virtio.Demo;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Virtsim.Fuzz.Targets.Rings;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// The response oracle's virtio-demo state across completions it does not judge (campaign camp1h
/// <c>response/demo</c>): a skipped completion (an indirect chain, overlapping buffers) may have been an opt-1 store,
/// so the state is unknown until a judged store or a reset; the oracle never reads the device's own state.
/// </summary>
public sealed class ResponseOracleDemoStateTests
{
    private const ulong Request = 0x6000;
    private const ulong Response = 0x6100;

    private readonly Simulation _sim = RingSimulation.Create(1000);
    private readonly ResponseOracle _oracle = new();
    private readonly FuzzContext _context = new();

    public ResponseOracleDemoStateTests() =>
        _oracle.Begin(new VirtioDemoDevice(Flavour.Robust), Flavour.Robust, _sim.Memory, _context);

    /// <summary>One completed 8-byte request {opt, buff} answered {answerOpt, answer} with used.len 8.</summary>
    private void Complete(uint opt, uint buff, uint answerOpt, uint answer, bool plain = true)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(b, opt);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], buff);
        Assert.True(_sim.Memory.TryWrite(new GuestAddress(Request), b));
        BinaryPrimitives.WriteUInt32LittleEndian(b, answerOpt);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], answer);
        Assert.True(_sim.Memory.TryWrite(new GuestAddress(Response), b));
        var readable = new RangeList();
        readable.Add(new GuestRange(Request, 8));
        var writable = new RangeList();
        writable.Add(new GuestRange(Response, 8));
        _oracle.OnCompleted(0, 8, readable, writable, plain);
    }

    [Fact]
    public void UnjudgedStore_ThenLoad_IsNotJudgedAgainstTheOldState()
    {
        Complete(1, 0, 1, 0, plain: false); // an indirect store of 0 the oracle cannot judge
        Complete(0, 0, 0, 0);
        Assert.Null(_context.Finding);
    }

    [Fact]
    public void UnjudgedCompletion_ThenJudgedStore_JudgesLoadsAgain()
    {
        Complete(1, 0, 1, 0, plain: false);
        Complete(1, 0xBEEF, 1, 0xBEEF);
        Complete(0, 0, 0, 0x1333); // a device that forgot the judged store
        Assert.Equal("response/demo", _context.Finding?.Site);
    }

    [Fact]
    public void UnknownState_LoadStillJudgesOptAndUsedLen()
    {
        Complete(1, 0, 1, 0, plain: false);
        Complete(0, 0, 7, 0); // the answer's opt is not the request's
        Assert.Equal("response/demo", _context.Finding?.Site);
    }

    [Fact]
    public void KnownState_WrongLoad_StillFires()
    {
        Complete(0, 0, 0, 0); // the initial state is 0x1333
        Assert.Equal("response/demo", _context.Finding?.Site);
    }
}
