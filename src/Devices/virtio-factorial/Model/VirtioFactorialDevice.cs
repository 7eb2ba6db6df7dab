using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Trace;
using Sim.Spec.Factorial;

namespace Sim.Devices.Virtio.Factorial;

/// <summary>
/// The factorial device of seed 001 (QEMU 7.2 hw/virtio/virtio-test.c, "virtio-test-device", VIRTIO_ID_TEST
/// 45): one 128-entry queue served by <c>virtio_test_handle_output</c>. A request is an out buffer
/// struct test_request {arg1 u32, arg2 char[32]} (36 bytes) and an in buffer struct test_response {ret u32};
/// the device writes ret = arg1! in u32 arithmetic (wrapping), pushes len 4 and notifies. It offers feature
/// VIRTIO_TEST_F_CAN_PRINT (bit 0), without which the seed's driver sets up no queue at all. Configuration:
/// struct virtio_test_config {num_pages, actual, event} (le32 each); get_config fills actual and event.
/// <para>What the flavours do, and why they differ:</para>
/// <list type="bullet">
/// <item><b>Seed</b> is virtio_test_handle_output exactly. <c>iov_to_buf(out, 0, &amp;req, 36)</c> copies
/// what the out buffers hold; only a result of 0 (no readable bytes at all) is treated as an error: it logs
/// "QEMU ERROR: iov_to_buf function failed." and calls virtqueue_detach_element — the element is never
/// returned to the driver (its descriptors leak until reset). A short out buffer (1..35 bytes) is
/// processed anyway with the rest of <c>req</c> left over from before: req is an uninitialised stack
/// variable, which the model represents deterministically as the bytes of the previous request (zeros at
/// first). arg2 is logged with %s and need not be NUL-terminated (the log shows the 32 bytes and marks the
/// overrun). The factorial loop <c>for (uint32_t i = 1; i &lt;= n; i++)</c> never ends for n = 0xFFFFFFFF
/// (i wraps to 0): QEMU's thread hangs — the model marks the device <see cref="Hung"/>: that element is
/// never completed and no later kick is served, even after reset. For other n it takes n iterations (the
/// model computes the same value in at most 34, since 34! ≡ 0 mod 2^32). <c>iov_from_buf</c> writes as
/// much of ret as the in buffers hold (nothing without an in buffer) and the element is pushed with len 4
/// regardless. get_config leaves num_pages uninitialised (the model: 0).</item>
/// <item><b>Robust</b> (default) validates lengths: out buffers must hold the whole 36-byte request and in
/// buffers 4 bytes, otherwise the element completes with used.len 0 and nothing written (no leak, no stale
/// data); arg2 is read as at most 32 bytes; the factorial is bounded for every n (0xFFFFFFFF! ≡ 0); used.len
/// is the 4 bytes written.</item>
/// <item>Both: a ring error while popping breaks the device (QEMU virtio_error); one handler run pops at
/// most <see cref="ElementsPerNotifyMax"/> elements.</item>
/// </list>
/// Device output (qemu_log) goes to <see cref="Log"/>; each completed request emits a DeviceResult trace
/// event (Address = <see cref="ResultRequest"/>, Value = arg1 &lt;&lt; 32 | ret).
/// </summary>
public sealed class VirtioFactorialDevice : VirtioDevice
{
    /// <summary>VIRTIO_ID_TEST (seed: include/uapi/linux/virtio_ids.h).</summary>
    public const ushort VirtioIdTest = FactorialSpec.VirtioIdTest;

    /// <summary>Seed: static uint32_t Queue_Size = 128.</summary>
    public const int QueueSize = 128;

    /// <summary>VIRTIO_TEST_F_CAN_PRINT.</summary>
    public const int FeatureCanPrint = FactorialSpec.FeatureCanPrint;

    /// <summary>struct test_request: arg1 (le32) + arg2 (char[32]) = 36 bytes.</summary>
    public const int RequestSize = FactorialSpec.RequestSize;

    /// <summary>Size of arg2.</summary>
    public const int Arg2Size = FactorialSpec.Arg2Size;

    /// <summary>struct test_response: ret (le32).</summary>
    public const int ResponseSize = FactorialSpec.ResponseSize;

    /// <summary>struct virtio_test_config (QEMU side): num_pages, actual, event (le32 each) = 12 bytes.</summary>
    public const int ConfigBytes = 12;

    /// <summary>Offset of actual in the configuration.</summary>
    public const int ConfigActualOffset = 4;

    /// <summary>Offset of event in the configuration.</summary>
    public const int ConfigEventOffset = 8;

    /// <summary>Elements one handler run pops at most.</summary>
    public const int ElementsPerNotifyMax = 8 * QueueSize;

    /// <summary>Smallest n with n! ≡ 0 (mod 2^32): 34! holds 2^32 (17 + 8 + 4 + 2 + 1 factors of two).</summary>
    public const uint FactorialZeroFrom = 34;

    /// <summary>DeviceResult code of a completed request.</summary>
    public const ulong ResultRequest = 2;

    /// <summary>DeviceResult code of a request detached without completion (seed, no readable bytes).</summary>
    public const ulong ResultDetached = 3;

    /// <summary>DeviceResult code of a request completed with len 0 (robust, too short).</summary>
    public const ulong ResultShortRequest = 4;

    /// <summary>DeviceResult code of the seed's endless factorial loop (Value = arg1).</summary>
    public const ulong ResultHung = 5;

    /// <summary>Default trace source id.</summary>
    public const uint TraceIdDefault = 0x45;

    private readonly QueueElement _element = new();

    // Seed: the handler's stack variable req, whose bytes persist between requests in the model.
    private readonly byte[] _seedRequest = new byte[RequestSize];

    // The robust handler's request and response, reused across requests (a test build poisons them, IHostPoison).
    private readonly byte[] _request = new byte[RequestSize];
    private readonly byte[] _response = new byte[ResponseSize];

    /// <summary>A factorial device of <paramref name="flavour"/>.</summary>
    public VirtioFactorialDevice(Flavour flavour = Flavour.Robust, uint traceId = TraceIdDefault)
        : base(VirtioIdTest, [QueueSize], 1UL << FeatureCanPrint, ConfigBytes, traceId)
    {
        Flavour = flavour;
    }

    /// <summary>Seed (seed 001 as written) or robust.</summary>
    public Flavour Flavour { get; }

    /// <summary>qemu_log output.</summary>
    public DeviceLog Log { get; } = new();

    /// <summary>Requests completed with a response.</summary>
    public long Requests { get; private set; }

    /// <summary>Seed: elements detached (never returned) because they had no readable bytes.</summary>
    public long Detached { get; private set; }

    /// <summary>Robust: elements completed with len 0 because a buffer was too short.</summary>
    public long ShortRequests { get; private set; }

    /// <summary>Seed: the factorial loop never returned (arg1 = 0xFFFFFFFF); the device serves nothing more.</summary>
    public bool Hung { get; private set; }

    /// <summary>Config actual (written by the driver).</summary>
    public uint Actual { get; private set; }

    /// <summary>Config event (written by the driver).</summary>
    public uint Event { get; private set; }

    /// <summary>n! in u32 arithmetic, as the seed's loop computes it for n &lt; 2^32 − 1 (for n = 2^32 − 1 the
    /// seed never returns; this gives the mathematical value 0).</summary>
    public static uint Factorial(uint n)
    {
        uint result = 1;
        uint last = Math.Min(n, FactorialZeroFrom);
        for (uint i = 1; i <= last; i++)
            result = unchecked(result * i);
        return result;
    }

    /// <inheritdoc/>
    protected override void HandleQueueNotify(int queueIndex)
    {
        if (Hung)
            return;
        if (Flavour == Flavour.Seed)
            HandleSeed(queueIndex);
        else
            HandleRobust(queueIndex);
    }

    /// <summary>virtio_test_handle_output as the seed has it.</summary>
    private void HandleSeed(int queueIndex)
    {
        Span<byte> res = stackalloc byte[ResponseSize];
        for (int n = 0; n < ElementsPerNotifyMax; n++)
        {
            if (!TryPop(queueIndex, _element))
                return;
            if (_element.ReadOut(Memory, 0, _seedRequest) == 0)
            {
                Log.Add("QEMU ERROR: iov_to_buf function failed.");
                GetQueue(queueIndex).Detach();
                Detached++;
                Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultDetached, _element.Head, default);
                continue;
            }
            uint arg1 = BinaryPrimitives.ReadUInt32LittleEndian(_seedRequest);
            Log.Add(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"QEMU: >>> get arg1 [ {Narrow.AsInt32Bits(arg1)} ] form the front end <<<"
                )
            );
            Log.Add(
                "QEMU: >>> get arg2 [ "
                    + CString(_seedRequest.AsSpan(4, Arg2Size), out bool terminated)
                    + (terminated ? "" : "<no NUL: %s reads past arg2>")
                    + " ] form the front end <<<"
            );
            if (arg1 == uint.MaxValue)
            {
                // for (uint32_t i = 1; i <= n; i++): i <= 0xFFFFFFFF always holds; the thread never returns.
                Hung = true;
                Log.Add("factorial(4294967295): i <= n always holds, the loop never ends (QEMU hangs)");
                Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultHung, arg1, default);
                return;
            }
            BinaryPrimitives.WriteUInt32LittleEndian(res, Factorial(arg1));
            _element.WriteIn(Memory, 0, res);
            Requests++;
            EmitResult(arg1, BinaryPrimitives.ReadUInt32LittleEndian(res));
            TryPush(queueIndex, _element, ResponseSize);
            NotifyQueue(queueIndex);
        }
    }

    /// <summary>The robust handler: lengths validated, bounded arithmetic, used.len = bytes written.</summary>
    private void HandleRobust(int queueIndex)
    {
        Span<byte> request = _request;
        Span<byte> res = _response;
        for (int n = 0; n < ElementsPerNotifyMax; n++)
        {
            if (!TryPop(queueIndex, _element))
                return;
            if (Poison is { } poison)
            {
                poison.Fill(request);
                poison.Fill(res);
            }
            uint written = 0;
            if (
                _element.OutBytes >= RequestSize
                && _element.InBytes >= ResponseSize
                && _element.ReadOut(Memory, 0, request) == RequestSize
            )
            {
                uint arg1 = BinaryPrimitives.ReadUInt32LittleEndian(request);
                uint ret = Factorial(arg1);
                if (Log.Enabled)
                {
                    Log.Add(
                        string.Create(
                            CultureInfo.InvariantCulture,
                            $"request arg1={arg1} arg2=\"{CString(request.Slice(4, Arg2Size), out _)}\" -> ret={ret}"
                        )
                    );
                }
                BinaryPrimitives.WriteUInt32LittleEndian(res, ret);
                written = Narrow.AsUInt32Bits(_element.WriteIn(Memory, 0, res));
                Requests++;
                EmitResult(arg1, ret);
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
                Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultShortRequest, _element.Head, default);
            }
            TryPush(queueIndex, _element, written);
            NotifyQueue(queueIndex);
        }
    }

    /// <summary>virtio_test_get_config: actual and event (num_pages: seed uninitialised, modelled as 0).</summary>
    protected override void ReadConfig(int offset, Span<byte> data)
    {
        Config.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(Config[ConfigActualOffset..], Actual);
        BinaryPrimitives.WriteUInt32LittleEndian(Config[ConfigEventOffset..], Event);
        base.ReadConfig(offset, data);
    }

    /// <summary>virtio_test_set_config: stores the bytes, then takes actual and event from them.</summary>
    protected override void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        base.WriteConfig(offset, data);
        Actual = BinaryPrimitives.ReadUInt32LittleEndian(Config[ConfigActualOffset..]);
        Event = BinaryPrimitives.ReadUInt32LittleEndian(Config[ConfigEventOffset..]);
    }

    /// <summary>Robust: clears actual and event. Seed: they and the leftover request bytes survive
    /// (the seed has no reset handler); a hung device stays hung in both (its thread never returns).</summary>
    protected override void OnReset()
    {
        if (Flavour == Flavour.Robust)
        {
            Actual = 0;
            Event = 0;
        }
    }

    private void EmitResult(uint arg1, uint ret) =>
        Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultRequest, ((ulong)arg1 << 32) | ret, default);

    /// <summary>The bytes up to the first NUL (at most the span), non-printable bytes escaped.</summary>
    private static string CString(ReadOnlySpan<byte> bytes, out bool terminated)
    {
        int end = bytes.IndexOf((byte)0);
        terminated = end >= 0;
        if (end < 0)
            end = bytes.Length;
        var sb = new StringBuilder(end);
        foreach (byte b in bytes[..end])
        {
            if (b is >= 0x20 and < 0x7F)
                sb.Append((char)b);
            else
                sb.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
        }
        return sb.ToString();
    }
}
