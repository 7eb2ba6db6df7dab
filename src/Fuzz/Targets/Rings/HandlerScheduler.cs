using Sim.Devices;

namespace Virtsim.Fuzz.Targets.Rings;

/// <summary>
/// The scheduler's interleaving choices inside a handler (issue 12 item 3), taken from the input: an "interleave" op
/// names a <see cref="HandlerPoint"/>, how many of its hits to let pass, and up to <see cref="SlotOpsMax"/> guest
/// operations (the ops that follow it in the input) to run when it is reached — as a second vCPU would, while the
/// handler is between its steps. The guest then makes its honest kick decision (<see cref="GuestKickDecision"/>):
/// during the handler the device usually suppresses notifications, so the guest does not kick, and whatever it
/// published must be found by the handler's own re-check. Deterministic: everything runs inside the handler's call.
/// Only ring operations run in a slot (stray stores, <see cref="RingInput.OpGuestWrite"/>, are skipped: a store over
/// used.idx mid-run would be taken for the device's).
/// </summary>
internal sealed class HandlerScheduler : IHandlerInterleaving
{
    /// <summary>Guest operations one slot holds.</summary>
    public const int SlotOpsMax = 4;

    private readonly RingInput.Op[] _slot = new RingInput.Op[SlotOpsMax];
    private GuestActor? _guest;
    private GuestKickDecision? _kicks;
    private Action? _kick;
    private Action? _beforeGuest;
    private Action? _afterGuest;
    private int _count;
    private bool _armed;
    private HandlerPoint _point;
    private int _skip;

    /// <summary>Slots that ran since <see cref="Reset"/>.</summary>
    public int SlotsRun { get; private set; }

    /// <summary>Slots that ran over all executions (tests).</summary>
    public long SlotsRunTotal { get; private set; }

    /// <summary>Per execution: who acts in a slot, how it decides to kick, what a kick does, and who is told before and
    /// after the guest acts (the interrupt oracle takes what the device did so far as the device's, then re-anchors
    /// when the guest changed the suppression words).</summary>
    public void Reset(GuestActor guest, GuestKickDecision kicks, Action kick, Action beforeGuest, Action afterGuest)
    {
        _guest = guest;
        _kicks = kicks;
        _kick = kick;
        _beforeGuest = beforeGuest;
        _afterGuest = afterGuest;
        _armed = false;
        _count = 0;
        SlotsRun = 0;
    }

    /// <summary>Decodes an interleave op: point = Index % 3, hits let pass = Flags % 4, then reads its slot's ops
    /// (Next % <see cref="SlotOpsMax"/> + 1 of them) from <paramref name="reader"/>. Replaces any slot still
    /// armed.</summary>
    public void Arm(in RingInput.Op op, ref Virtsim.Fuzz.Input.FuzzInputReader reader)
    {
        _point = (HandlerPoint)(op.Index % 3);
        _skip = op.Flags % 4;
        _count = 0;
        int n = 1 + (op.Next % SlotOpsMax);
        for (int i = 0; i < n && !reader.IsExhausted; i++)
            _slot[_count++] = RingInput.ReadOp(ref reader);
        _armed = true;
    }

    public void At(HandlerPoint point)
    {
        if (!_armed || point != _point)
            return;
        if (_skip > 0)
        {
            _skip--;
            return;
        }
        _armed = false;
        SlotsRun++;
        SlotsRunTotal++;
        _beforeGuest!();
        for (int i = 0; i < _count; i++)
        {
            if (_slot[i].Code < 8 && _slot[i].Code != RingInput.OpGuestWrite)
                _guest!.Apply(_slot[i]);
        }
        _afterGuest!();
        if (_kicks!.Decide())
            _kick!();
    }
}
