using System.Globalization;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Random;
using Sim.Engine.Trace;
using Sim.Spec.Rng;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Rng;

/// <summary>
/// The virtio entropy device (VIRTIO 1.2 §5.4; QEMU hw/virtio/virtio-rng.c): the driver places device-writable
/// buffers on requestq, the device fills them with entropy and returns them with used.len = the bytes written. The
/// entropy is the simulation's: a <see cref="Prng"/> stream the scenario forks from the seeded root, so a run's
/// "random" bytes are the same on every replay.
/// <para>What the flavours do, and why they differ. No seed document describes an entropy device, so the
/// <see cref="Flavour.Seed"/> flavour is the device as the seeds write theirs: seed 001's virtio_test_handle_output
/// template applied to entropy — a fixed block <c>uint8_t buf[64]</c> filled with random bytes, copied with
/// <c>iov_from_buf(elem-&gt;in_sg, elem-&gt;in_num, 0, buf, 64)</c> and pushed with <c>virtqueue_push(vq, elem, 64)</c>
/// whatever the guest offered (seed 001 pushes len 4 the same way):</para>
/// <list type="bullet">
/// <item><b>Seed</b> writes at most <see cref="SeedBlockBytes"/> bytes into the device-writable buffers and reports
/// used.len <see cref="SeedBlockBytes"/> even when the buffers hold fewer (VIRTIO 1.2 §2.7.8.2: the device MUST
/// NOT report more than it wrote); driver-readable buffers are ignored, as QEMU's iov_from_buf on in_sg does.</item>
/// <item><b>Robust</b> (default, QEMU hw/virtio/virtio-rng.c chr_read) fills the device-writable buffers and reports
/// the bytes written. It refuses a chain that holds driver-readable buffers (§5.4.6.1: the driver MUST NOT place
/// them): used.len 0, nothing written, and the log says why. Before popping it walks every available chain as QEMU's
/// get_request_size does (<see cref="VirtioDevice.TryGetAvailBytes"/>), and breaks where that walk would.</item>
/// <item>Both fill at most <see cref="BytesPerRequestMax"/> bytes of one element (§5.4.7.1: the device MAY use
/// less than the entire buffer), a ring error while popping breaks the device (QEMU virtio_error), and one handler
/// run pops at most <see cref="ElementsPerNotifyMax"/> elements.</item>
/// </list>
/// Each completed element emits a DeviceResult trace event (Address = <see cref="ResultRequest"/>, Value = bytes
/// written).
/// </summary>
public sealed class VirtioRngDevice : VirtioDevice
{
    /// <summary>PRNG stream (<see cref="Prng.Fork"/> id) scenarios give the device for its entropy.</summary>
    public const ulong EntropyPrngStream = 0x20;

    /// <summary>Most bytes one element receives (the device MAY use less than the buffer, VIRTIO 1.2
    /// §5.4.7.1).</summary>
    public const int BytesPerRequestMax = 64 * 1024;

    /// <summary>Seed: the fixed entropy block each request gets and the used.len it reports.</summary>
    public const int SeedBlockBytes = 64;

    /// <summary>Elements one handler run pops at most.</summary>
    public const int ElementsPerNotifyMax = 8 * RngSpec.QueueSize;

    /// <summary>DeviceResult code of a completed request (Value = bytes written).</summary>
    public const ulong ResultRequest = 2;

    /// <summary>DeviceResult code of a request refused because it held driver-readable buffers (robust).</summary>
    public const ulong ResultReadableRefused = 3;

    /// <summary>Default trace source id.</summary>
    public const uint TraceIdDefault = 0x04;

    private const int ChunkBytes = 256;

    private readonly QueueElement _element = new();
    private readonly byte[] _chunk = new byte[ChunkBytes];
    private readonly Prng _entropy;

    /// <param name="entropy">Where the bytes come from: a stream forked from the simulation's root PRNG.</param>
    /// <param name="flavour">Device behaviour.</param>
    /// <param name="traceId">Trace source id.</param>
    public VirtioRngDevice(Prng entropy, Flavour flavour = Flavour.Robust, uint traceId = TraceIdDefault)
        : base(RngSpec.DeviceId, [RngSpec.QueueSize], 0, 0, traceId)
    {
        ArgumentNullException.ThrowIfNull(entropy);
        _entropy = entropy;
        Flavour = flavour;
    }

    /// <summary>Seed or robust.</summary>
    public Flavour Flavour { get; }

    /// <summary>The device's log (QEMU's error_report lines).</summary>
    public DeviceLog Log { get; } = new();

    /// <summary>Requests completed with entropy.</summary>
    public long Requests { get; private set; }

    /// <summary>Entropy bytes written into guest buffers.</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Robust: requests refused because they held driver-readable buffers.</summary>
    public long Refused { get; private set; }

    /// <summary>Robust: the most bytes one request sizes (QEMU virtio_rng_process's quota; the differential rig runs
    /// QEMU with <c>max-bytes</c> 1 MiB per period). Bounds <see cref="SplitQueue.GetAvailBytes"/>'s walk as QEMU's
    /// quota bounds get_request_size's.</summary>
    public const uint RequestBytesMax = 1 << 20;

    /// <summary>Robust, as QEMU's virtio_rng_set_status → virtio_rng_process: every status the driver writes while the
    /// queue is ready and DRIVER_OK is set walks the available chains (get_request_size), so a malformed ring left in
    /// memory (a re-initialisation over an old avail.idx) breaks the device at DRIVER_OK, before any kick. The fill
    /// QEMU may then request is not modelled: the model serves chains at kicks only.</summary>
    protected override void OnStatusChanged(VirtioStatus oldStatus, VirtioStatus newStatus)
    {
        if (Flavour != Flavour.Robust || IsBroken || (newStatus & VirtioStatus.DriverOk) == 0)
            return;
        if (!GetQueue(0).Ready)
            return;
        using (Memory.As(MemoryActor.Device))
            TryGetAvailBytes(0, RequestBytesMax, out _);
    }

    /// <inheritdoc/>
    protected override void HandleQueueNotify(int queueIndex)
    {
        // Robust, as QEMU (virtio_rng_process → get_request_size → virtqueue_get_avail_bytes): every available chain
        // is walked before any is popped, and that walk's checks break the device where a pop's would not (a
        // descriptor listed in two chains: "Looped descriptor"; avail.idx a queue ahead: "Guest moved used index").
        if (Flavour == Flavour.Robust && !TryGetAvailBytes(queueIndex, RequestBytesMax, out _))
            return;
        for (int n = 0; n < ElementsPerNotifyMax; n++)
        {
            if (!TryPop(queueIndex, _element))
                return;
            uint written = 0;
            if (Flavour == Flavour.Robust && _element.OutCount > 0)
            {
                Refused++;
                if (Log.Enabled)
                    Log.Add(
                        string.Create(
                            CultureInfo.InvariantCulture,
                            $"request with {_element.OutCount} driver-readable buffers refused, completed with len 0"
                        )
                    );
                Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultReadableRefused, _element.Head, default);
            }
            else
            {
                written = Fill(Flavour == Flavour.Seed ? SeedBlockBytes : BytesPerRequestMax);
                Requests++;
                BytesWritten += written;
                Simulation.Emit(TraceEventKind.DeviceResult, TraceId, ResultRequest, written, default);
            }
            // Seed: virtqueue_push(vq, elem, 64) whatever iov_from_buf managed to write.
            uint len = Flavour == Flavour.Seed ? SeedBlockBytes : written;
            TryPush(queueIndex, _element, len);
            NotifyQueue(queueIndex);
        }
    }

    /// <summary>iov_from_buf: entropy into the element's device-writable buffers, in order, up to
    /// <paramref name="limit"/> bytes. Returns the bytes written.</summary>
    private uint Fill(int limit)
    {
        ulong want = Math.Min(_element.InBytes, Narrow.AsUInt64Bits(limit));
        ulong offset = 0;
        while (offset < want)
        {
            int n = unchecked((int)Math.Min(want - offset, ChunkBytes));
            Span<byte> chunk = _chunk.AsSpan(0, n);
            _entropy.NextBytes(chunk);
            int done = _element.WriteIn(Memory, offset, chunk);
            offset += Narrow.AsUInt64Bits(done);
            if (done < n)
                break;
        }
        return Narrow.LowUInt32(offset);
    }
}
