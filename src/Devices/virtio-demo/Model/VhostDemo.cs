using System.Buffers.Binary;
using Sim.Devices.Virtio.Demo;
using Sim.Engine;
using Sim.Engine.Trace;
using Sim.Machine.Simulation;

namespace Sim.Devices.Vhost;

/// <summary>
/// vhost-demo, the host-kernel backend of seed 000 lab 3 (module demo.c: one vring, <c>handle_demo_kick</c>), on
/// top of <see cref="VhostDevice"/>. The guest driver is the virtio-demo driver of lab 2: each request is an out
/// buffer {opt le32, buff le32} and an in buffer for the 8-byte response.
/// <para>What the flavours do, and why they differ:</para>
/// <list type="bullet">
/// <item><b>Seed</b> reproduces handle_demo_kick exactly: mutex + vhost_disable_notify; loop on vhost_get_vq_desc
/// (head &lt; 0 → break; head == num → vhost_enable_notify re-check, continue or break); copy_from_iter of 8 bytes into
/// the struct fields v1,v2 — a short out buffer copies fewer bytes and leaves the rest of v1/v2 from the previous
/// request; v3 = v1; if v1 == 1 then v4 = v2; copy_to_iter of the 8 bytes {v3, v4} (a short in buffer gets a partial
/// write); vhost_add_used_and_signal(head, 0) — used.len 0 although up to 8 bytes were written; total_len +=
/// out_len + in_len and vhost_exceeds_weight(vq, 0, total_len) (the size_t truncated to the int parameter, and
/// pkts always 0, so only the byte weight can stop the loop); then mutex_unlock and an <i>unconditional</i>
/// vhost_poll_queue, so the worker requeues itself forever: a livelock that <see cref="VhostWorker"/> reports.
/// The seed never checks for a backend (its ioctl is not shown; <see cref="SetRunning"/> gives it vhost-test's RUN).
/// v1..v4 start at 0 (the seed allocates the state with kvmalloc, which does not zero; the model assumes zeroed
/// memory, as kzalloc would give).</item>
/// <item><b>Robust</b> (default) has the request semantics of the robust QEMU-style virtio-demo device, so that the
/// two can be compared: out buffers must total ≥ 8 bytes and in buffers ≥ 8; the request is the first 8 bytes
/// {opt, buff}; opt 0 answers {0, state}; opt 1 stores buff and answers {1, buff}; any other opt answers
/// {opt, request.buff} and changes nothing; the response goes to the in buffers and used.len is 8 (the bytes written).
/// A short request completes with used.len 0, nothing written, state unchanged. Initial state 0x1333. It counts
/// packets for vhost_exceeds_weight like vhost-net, does nothing while no backend is attached, and does not requeue
/// itself.</item>
/// <item>Both: a descriptor-chain violation is a vq_err (trace event, error eventfd) and ends the run with
/// notifications still disabled, as in every Linux vhost driver; each run's loop is bounded by
/// <see cref="VhostOptions.HandlerIterationsMax"/> (Linux has no such bound: a guest whose used ring overlaps its
/// available ring can feed the seed loop forever, a soft lockup on a real host).</item>
/// </list>
/// </summary>
public sealed class VhostDemo : IVhostKickHandler, IVhostBackend
{
    /// <summary>One vring (seed: vhost_dev_init(&amp;d-&gt;dev, d-&gt;vqs, 1, ...)).</summary>
    public const int QueueCount = 1;

    /// <summary>Request size: {opt le32, buff le32}.</summary>
    public const int RequestSize = DemoProtocol.RequestSize;

    /// <summary>Response size: {opt le32, buff le32}.</summary>
    public const int ResponseSize = DemoProtocol.ResponseSize;

    /// <summary>Robust flavour's initial state (the value the demo device's guest test writes first).</summary>
    public const uint InitialBuff = 0x1333;

    // Seed state: u32 v1, v2, v3, v4 laid out contiguously, little-endian (struct vhost_demo on x86).
    private readonly byte[] _seedState = new byte[16];

    /// <summary>A vhost-demo backend of <paramref name="flavour"/> on <paramref name="simulation"/>, translating
    /// through <paramref name="vmm"/>.</summary>
    public VhostDemo(
        Simulation simulation,
        VmmAddressSpace vmm,
        Flavour flavour = Flavour.Robust,
        VhostOptions? options = null,
        uint traceId = 0
    )
    {
        Flavour = flavour;
        Device = new VhostDevice(simulation, vmm, QueueCount, VhostFeatures.Default, options, traceId);
        Device.SetKickHandler(0, this);
        Buff = InitialBuff;
    }

    /// <summary>The vhost device of its one vring.</summary>
    public VhostDevice Device { get; }

    /// <summary>Seed (lab 3 as written) or robust.</summary>
    public Flavour Flavour { get; }

    /// <summary>Robust flavour: the stored value.</summary>
    public uint Buff { get; private set; }

    /// <summary>Seed flavour: demo-&gt;v1 .. v4.</summary>
    public uint V1 => BinaryPrimitives.ReadUInt32LittleEndian(_seedState);

    /// <summary>Seed flavour: demo-&gt;v2.</summary>
    public uint V2 => BinaryPrimitives.ReadUInt32LittleEndian(_seedState.AsSpan(4));

    /// <summary>Seed flavour: demo-&gt;v3.</summary>
    public uint V3 => BinaryPrimitives.ReadUInt32LittleEndian(_seedState.AsSpan(8));

    /// <summary>Seed flavour: demo-&gt;v4.</summary>
    public uint V4 => BinaryPrimitives.ReadUInt32LittleEndian(_seedState.AsSpan(12));

    /// <summary>Requests completed with a full response (robust) or processed at all (seed).</summary>
    public long Requests { get; private set; }

    /// <summary>Robust: requests completed with used.len 0 because a buffer was too short.</summary>
    public long ShortRequests { get; private set; }

    /// <summary>Handler runs that hit <see cref="VhostOptions.HandlerIterationsMax"/>.</summary>
    public long IterationBoundHits { get; private set; }

    /// <summary>The demo's "run" ioctl (vhost-test's VHOST_TEST_RUN): attaches or detaches the backend of the vring.
    /// EPERM without an owner; EFAULT when the vring is not set up (see
    /// <see cref="VhostDevice.StartVring"/>).</summary>
    public VhostResult SetRunning(bool running) => running ? Device.StartVring(0) : Device.StopVring(0);

    void IVhostKickHandler.HandleKick(VhostVirtqueue vq)
    {
        if (Flavour == Flavour.Seed)
            HandleSeed(vq);
        else
            HandleRobust(vq);
    }

    /// <summary>handle_demo_kick as the seed has it.</summary>
    private void HandleSeed(VhostVirtqueue vq)
    {
        ulong totalLen = 0;
        vq.Lock();
        vq.DisableNotify();
        int iterations = 0;
        for (; ; )
        {
            if (!CountIteration(ref iterations))
                break;
            int head = vq.GetVqDesc(out int outN, out int inN);
            if (head < 0)
                break;
            // Nothing new? Wait for eventfd to tell us they refilled.
            if (head == Narrow.AsInt32Bits(vq.Num))
            {
                if (vq.EnableNotify())
                {
                    vq.DisableNotify();
                    continue;
                }
                break;
            }
            ulong outLen = vq.IovLength(0, outN);
            ulong inLen = vq.IovLength(outN, inN);
            // copy_from_iter(&demo->v1, 8, ...): as many bytes as the out buffers hold, over v1 then v2.
            vq.CopyFromIov(0, outN, _seedState.AsSpan(0, 8));
            _seedState.AsSpan(0, 4).CopyTo(_seedState.AsSpan(8, 4)); // v3 = v1
            if (V1 == 1)
                _seedState.AsSpan(4, 4).CopyTo(_seedState.AsSpan(12, 4)); // v4 = v2
            // copy_to_iter(&demo->v3, 8, ...): v3 then v4, as many bytes as the in buffers hold.
            vq.CopyToIov(outN, inN, _seedState.AsSpan(8, 8));
            Requests++;
            vq.AddUsedAndSignal(Narrow.AsUInt32Bits(head), 0);
            totalLen = unchecked(totalLen + outLen + inLen);
            // size_t total_len passed to vhost_exceeds_weight's int parameter: truncated modulo 2^32.
            if (vq.ExceedsWeight(0, Narrow.AsInt32Bits(Narrow.LowUInt32(totalLen))))
                break;
        }
        vq.Unlock();
        vq.PollQueue();
    }

    /// <summary>The robust handler: same loop shape, QEMU-style request semantics, no self-requeue.</summary>
    private void HandleRobust(VhostVirtqueue vq)
    {
        if (!vq.HasBackend)
            return;
        vq.Lock();
        vq.DisableNotify();
        int pkts = 0;
        ulong totalLen = 0;
        int iterations = 0;
        Span<byte> request = stackalloc byte[RequestSize];
        Span<byte> response = stackalloc byte[ResponseSize];
        for (; ; )
        {
            if (!CountIteration(ref iterations))
                break;
            int head = vq.GetVqDesc(out int outN, out int inN);
            if (head < 0)
                break;
            if (head == Narrow.AsInt32Bits(vq.Num))
            {
                if (vq.EnableNotify())
                {
                    vq.DisableNotify();
                    continue;
                }
                break;
            }
            ulong outLen = vq.IovLength(0, outN);
            ulong inLen = vq.IovLength(outN, inN);
            int written = 0;
            if (outLen >= RequestSize && inLen >= ResponseSize && vq.CopyFromIov(0, outN, request) == RequestSize)
            {
                uint state = Buff;
                DemoProtocol.Apply(ref state, request, response, out _, out _);
                Buff = state;
                written = vq.CopyToIov(outN, inN, response);
                Requests++;
            }
            else
            {
                ShortRequests++;
            }
            vq.AddUsedAndSignal(Narrow.AsUInt32Bits(head), written);
            pkts++;
            ulong add = outLen > ulong.MaxValue - inLen ? ulong.MaxValue : outLen + inLen;
            totalLen = totalLen > ulong.MaxValue - add ? ulong.MaxValue : totalLen + add;
            if (vq.ExceedsWeight(pkts, Narrow.LowInt32(Math.Min(totalLen, int.MaxValue))))
                break;
        }
        vq.Unlock();
    }

    private bool CountIteration(ref int iterations)
    {
        if (++iterations <= Device.Options.HandlerIterationsMax)
            return true;
        IterationBoundHits++;
        Device.Simulation.Emit(
            TraceEventKind.DeviceResult,
            Device.TraceId,
            VhostTraceCode.HandlerIterationsExhausted,
            Narrow.AsUInt64Bits(iterations),
            default
        );
        return false;
    }
}
