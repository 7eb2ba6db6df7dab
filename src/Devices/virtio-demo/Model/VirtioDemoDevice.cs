using System.Buffers.Binary;
using System.Globalization;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Trace;
using Sim.Spec.Demo;

namespace Sim.Devices.Virtio.Demo;

/// <summary>
/// virtio-demo, the QEMU virtio device of seed 000 lab 2 (hw/virtio/virtio-demo.c): one 128-entry queue
/// served by <c>virtio_demo_handle</c>, state <c>buff</c> = 0x1333 at realize. Each request is an out
/// buffer {opt le32, buff le32} and an in buffer for the 8-byte response: opt 0 reads the device's buff,
/// opt 1 stores the request's buff.
/// <para>What the flavours do, and why they differ:</para>
/// <list type="bullet">
/// <item><b>Seed</b> reproduces virtio_demo_handle exactly. Loop on virtqueue_pop until it returns nothing
/// (then prints "exit virtio_demo_handle()"). iov_to_buf of 8 bytes: only when all 8 arrive is the request
/// processed — printed, executed (opt 0: response buff = state; opt 1: state = buff; other: "opt: error!"
/// and the unchanged {opt, buff} is still written back) — and written with iov_from_buf, which writes as
/// much of the 8 bytes as the in buffers hold (a partial write for a short in buffer). Whatever happened,
/// the element is pushed with len 8 — also when nothing was processed or written (used.len larger than
/// the bytes written, a VIRTIO 1.2 §2.7.8.2 violation) — and virtio_notify is called for each element.
/// The state survives a device reset (the seed registers no reset handler).</item>
/// <item><b>Robust</b> (default): the exact rules shared with the robust vhost-demo backend, so that the
/// two are interchangeable in a differential run: out buffers must total ≥ 8 bytes and in buffers ≥ 8; the
/// request is the first 8 bytes {opt, buff}; opt 0 → response {0, state}; opt 1 → state = buff, response
/// {1, buff}; any other opt → response {opt, request.buff}, state unchanged; the response goes to the in
/// buffers and used.len = 8. A short request completes with used.len 0, nothing written, state unchanged.
/// Initial state 0x1333, restored by a device reset.</item>
/// <item>Both: a ring error while popping breaks the device (QEMU virtio_error, via
/// <see cref="VirtioDevice.TryPop"/>); one handler run pops at most <see cref="ElementsPerNotifyMax"/>
/// elements (QEMU has no bound, but its pops are bounded by the ring anyway).</item>
/// </list>
/// Device output (the seed's printf) goes to <see cref="Log"/>; each processed request also emits a
/// DeviceResult trace event (Address = <see cref="ResultRequest"/> or <see cref="ResultShortRequest"/>,
/// Value = opt &lt;&lt; 32 | response buff).
/// </summary>
public sealed class VirtioDemoDevice : VirtioDevice
{
    /// <summary>VIRTIO_ID_DEMO: the seed does not show its value; 44 is unused by the virtio spec's list
    /// next to the seed 001 "test" device's 45.</summary>
    public const ushort VirtioIdDemo = VirtioDemoSpec.VirtioIdDemo;

    /// <summary>Seed: virtio_add_queue(vdev, 128, virtio_demo_handle).</summary>
    public const int QueueSize = 128;

    /// <summary>Request {opt le32, buff le32}.</summary>
    public const int RequestSize = DemoProtocol.RequestSize;

    /// <summary>Response {opt le32, buff le32}.</summary>
    public const int ResponseSize = DemoProtocol.ResponseSize;

    /// <summary>Seed: s-&gt;buff = 0x1333 in realize.</summary>
    public const uint InitialBuff = 0x1333;

    /// <summary>struct virtio_demo_config is not shown in the seed; the model exposes one le32 (the state).</summary>
    public const int ConfigBytes = 4;

    /// <summary>Elements one handler run pops at most.</summary>
    public const int ElementsPerNotifyMax = 8 * QueueSize;

    /// <summary>DeviceResult code of a processed request.</summary>
    public const ulong ResultRequest = 2;

    /// <summary>DeviceResult code of a request too short to process.</summary>
    public const ulong ResultShortRequest = 3;

    /// <summary>Default trace source id.</summary>
    public const uint TraceIdDefault = 0x44;

    private readonly QueueElement _element = new();

    // The robust handler's request and response, reused across requests (a test build poisons them, IHostPoison).
    private readonly byte[] _request = new byte[RequestSize];
    private readonly byte[] _response = new byte[ResponseSize];

    /// <summary>A virtio-demo device of <paramref name="flavour"/>.</summary>
    public VirtioDemoDevice(Flavour flavour = Flavour.Robust, uint traceId = TraceIdDefault)
        : base(VirtioIdDemo, [QueueSize], 0, ConfigBytes, traceId)
    {
        Flavour = flavour;
        Buff = InitialBuff;
        UpdateConfig();
    }

    /// <summary>Seed (lab 2 as written) or robust.</summary>
    public Flavour Flavour { get; }

    /// <summary>The device state (seed: VirtIODemo.buff).</summary>
    public uint Buff { get; private set; }

    /// <summary>The device's printf output.</summary>
    public DeviceLog Log { get; } = new();

    /// <summary>Requests processed (all 8 bytes read).</summary>
    public long Requests { get; private set; }

    /// <summary>Requests too short to process (seed: still pushed with len 8; robust: len 0).</summary>
    public long ShortRequests { get; private set; }

    /// <summary>Requests with an opt other than 0 or 1.</summary>
    public long UnknownOpts { get; private set; }

    /// <summary>Handler runs that stopped at <see cref="ElementsPerNotifyMax"/>.</summary>
    public long PopBoundHits { get; private set; }

    /// <inheritdoc/>
    protected override void HandleQueueNotify(int queueIndex)
    {
        if (Flavour == Flavour.Seed)
            HandleSeed(queueIndex);
        else
            HandleRobust(queueIndex);
    }

    /// <summary>virtio_demo_handle as the seed has it.</summary>
    private void HandleSeed(int queueIndex)
    {
        Span<byte> data = stackalloc byte[RequestSize];
        data.Clear();
        for (int n = 0; ; n++)
        {
            if (n == ElementsPerNotifyMax)
            {
                PopBoundHits++;
                return;
            }
            if (!TryPop(queueIndex, _element))
            {
                Log.Add("exit virtio_demo_handle()");
                return;
            }
            if (_element.ReadOut(Memory, 0, data) == RequestSize)
            {
                uint opt = BinaryPrimitives.ReadUInt32LittleEndian(data);
                uint buff = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
                Log.Add(Hex("recv opt: ", opt));
                Log.Add(Hex("recv buff: ", buff));
                switch (opt)
                {
                    case 0:
                        Log.Add("opt: read from guest");
                        BinaryPrimitives.WriteUInt32LittleEndian(data[4..], Buff);
                        break;
                    case 1:
                        Log.Add("opt: write from guest");
                        Buff = buff;
                        UpdateConfig();
                        break;
                    default:
                        Log.Add("opt: error!");
                        UnknownOpts++;
                        break;
                }
                int len = _element.WriteIn(Memory, 0, data);
                Log.Add(string.Create(CultureInfo.InvariantCulture, $"iov_from_buf ret = {len}"));
                Log.Add(Hex("buff: ", Buff));
                Requests++;
                EmitResult(ResultRequest, opt, BinaryPrimitives.ReadUInt32LittleEndian(data[4..]));
            }
            else
            {
                ShortRequests++;
                EmitResult(ResultShortRequest, 0, 0);
            }
            // Seed: virtqueue_push(vq, elem, 8) whatever was written, then virtio_notify.
            TryPush(queueIndex, _element, ResponseSize);
            NotifyQueue(queueIndex);
        }
    }

    /// <summary>The robust handler (rules shared with the robust vhost-demo backend).</summary>
    private void HandleRobust(int queueIndex)
    {
        Span<byte> request = _request;
        Span<byte> response = _response;
        for (int n = 0; n < ElementsPerNotifyMax; n++)
        {
            if (!TryPop(queueIndex, _element))
                return;
            if (Poison is { } poison)
            {
                poison.Fill(request);
                poison.Fill(response);
            }
            uint written = 0;
            if (
                _element.OutBytes >= RequestSize
                && _element.InBytes >= ResponseSize
                && _element.ReadOut(Memory, 0, request) == RequestSize
            )
            {
                uint state = Buff;
                uint opt = DemoProtocol.Apply(ref state, request, response, out uint answer, out bool known);
                uint buff = BinaryPrimitives.ReadUInt32LittleEndian(request[4..]);
                if (opt == 1)
                {
                    Buff = state;
                    UpdateConfig();
                    AdvanceConfigGeneration(); // the configuration mirrors buff (VIRTIO 1.2 §4.1.4.3.1)
                }
                if (!known)
                    UnknownOpts++;
                written = Narrow.AsUInt32Bits(_element.WriteIn(Memory, 0, response));
                Requests++;
                if (Log.Enabled)
                    Log.Add(
                        string.Create(
                            CultureInfo.InvariantCulture,
                            $"request opt={opt:x} buff={buff:x} -> response {{{opt:x}, {answer:x}}} state={Buff:x}"
                        )
                    );
                EmitResult(ResultRequest, opt, answer);
            }
            else
            {
                ShortRequests++;
                if (Log.Enabled)
                    Log.Add(
                        string.Create(
                            CultureInfo.InvariantCulture,
                            $"short request: out={_element.OutBytes} in={_element.InBytes} bytes, completed with len 0"
                        )
                    );
                EmitResult(ResultShortRequest, 0, 0);
            }
            TryPush(queueIndex, _element, written);
            NotifyQueue(queueIndex);
        }
        PopBoundHits++;
    }

    /// <summary>Robust: the state returns to its initial value. Seed: no reset handler, the state survives.</summary>
    protected override void OnReset()
    {
        if (Flavour == Flavour.Robust)
        {
            Buff = InitialBuff;
            UpdateConfig();
        }
    }

    private void UpdateConfig() => BinaryPrimitives.WriteUInt32LittleEndian(Config, Buff);

    private void EmitResult(ulong code, uint opt, uint buff) =>
        Simulation.Emit(TraceEventKind.DeviceResult, TraceId, code, ((ulong)opt << 32) | buff, default);

    private static string Hex(string prefix, uint value) => prefix + value.ToString("x", CultureInfo.InvariantCulture);
}
