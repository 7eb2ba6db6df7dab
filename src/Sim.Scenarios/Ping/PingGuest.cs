using System.Globalization;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Machine.Kvm;
using Sim.Machine.Simulation;

namespace Sim.Scenarios.Ping;

/// <summary>
/// The ping scenario's guest: posts <c>requests</c> requests one at a time (every fourth time two
/// at once, kicking twice in one step so the worker finds both kicks coalesced in its eventfd),
/// kicks the doorbell, and waits in STI;HLT until its completion interrupt handler has seen them
/// done. About one kick in eight is deliberately "wrong" (value 1, or a 2-byte write) so the
/// ioeventfd does not match and the write exits to userspace. Timer interrupts (GSI 8) are counted.
/// </summary>
internal sealed class PingGuest : GuestProgram
{
    private readonly int _requests;
    private uint _posted;
    private uint _completed;
    private long _completionIrqs;
    private long _ticks;

    public PingGuest(int requests) => _requests = requests;

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var posted = new GuestAddress(PingLayout.PostedAddress);
        guest.Memory.TryWriteUInt32(posted, 0);
        guest.Print(string.Create(CultureInfo.InvariantCulture, $"ping: {_requests} requests"));
        int issued = 0;
        while (issued < _requests)
        {
            bool pair = issued % 4 == 3 && issued + 1 < _requests;
            int batch = pair ? 2 : 1;
            for (int k = 0; k < batch; k++)
            {
                _posted++;
                guest.Memory.TryWriteUInt32(posted, _posted);
                Kick(guest);
            }
            issued += batch;
            while (_completed < _posted)
                yield return VcpuStep.Halt;
            yield return VcpuStep.Compute(Narrow.AsInt64Bits(guest.Prng.UInt64LessThan(2000)));
        }
        ulong slow = guest.MmioRead(PingLayout.DoorbellAddress, 4);
        guest.Print(
            string.Create(
                CultureInfo.InvariantCulture,
                $"ping: done, completed={_completed} completion_irqs={_completionIrqs} slow_kicks={slow} ticks={_ticks}"
            )
        );
        guest.DebugWrite(PingLayout.DoneMarker);
    }

    private static void Kick(GuestContext guest)
    {
        switch (guest.Prng.UInt64LessThan(16))
        {
            case 0:
                guest.MmioWrite(PingLayout.DoorbellAddress, 4, 1); // datamatch mismatch: exits
                break;
            case 1:
                guest.MmioWrite(PingLayout.DoorbellAddress, 2, PingLayout.KickValue); // length mismatch: exits
                break;
            default:
                guest.MmioWrite(PingLayout.DoorbellAddress, 4, PingLayout.KickValue); // ioeventfd
                break;
        }
    }

    public override void OnInterrupt(GuestContext guest, uint gsi)
    {
        if (gsi == PingLayout.CompletionGsi)
        {
            _completionIrqs++;
            if (guest.Memory.TryReadUInt32(new GuestAddress(PingLayout.CompletedAddress), out uint completed))
                _completed = completed;
            guest.Eoi(gsi);
            guest.Print(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"irq {gsi}: completed {_completed}/{_posted} at {guest.Now} ns"
                )
            );
            return;
        }
        if (gsi == PingLayout.TimerGsi)
            _ticks++;
        guest.Eoi(gsi);
    }
}
