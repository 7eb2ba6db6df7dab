using System.Buffers.Binary;
using System.Text;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Engine.Trace;
using Sim.Spec.Blk;

namespace Sim.Devices.Virtio.Blk;

/// <summary>
/// virtio-blk (VIRTIO 1.2 §5.2; seed 003, QEMU hw/block/virtio-blk.c) with one request queue, served synchronously
/// when the driver kicks: each request is read, performed on the <see cref="IBlockBackend"/>, its status written,
/// pushed, and the queue notified (QEMU virtio_blk_req_complete: virtqueue_push + virtio_notify per request).
/// <para>
/// <see cref="Flavour.Robust"/> is QEMU's current virtio_blk_handle_request: no readable or no writable buffer →
/// virtio_error "virtio-blk missing headers"; header shorter than 16 bytes (gathered across descriptors, ANY_LAYOUT) →
/// "virtio-blk request outhdr too short"; the status is the LAST byte of the last writable buffer; the type is
/// matched after masking OUT and BARRIER; IN/OUT data must be whole sectors inside the capacity
/// (virtio_blk_sect_range_ok, overflow-safe) else IOERR; FLUSH flushes; GET_ID writes min(strlen(serial) + 1,
/// data bytes, 20) bytes; SCSI_CMD and anything else → UNSUPP; used.len = every writable byte offered (QEMU
/// req-&gt;in_len), i.e. data + 1 for IN, 1 for OUT and FLUSH, 21 for a 20-byte GET_ID.
/// </para>
/// <para>
/// <see cref="Flavour.Seed"/> is synthesized from seed 003's code fragment (QEMU 0.12-era virtio_blk_handle_request,
/// whose length checks the article leaves out): it trusts the guest's layout. The header is read as 16 bytes at the
/// first readable buffer's address whatever that buffer's length (req-&gt;out = out_sg[0].iov_base), write data is
/// the readable buffers after the first (out_sg[1..]), read data the writable buffers before the last
/// (in_sg[0..in_num-1)), the status goes to the FIRST byte of the last writable buffer (req-&gt;in = in_sg[last]
/// .iov_base); the type is bit-tested in QEMU 0.12's order (FLUSH, SCSI_CMD → UNSUPP, OUT → write, anything else →
/// read, so GET_ID reads disk bytes); the range check is sector * 512 + len &gt; capacity in wrapping 64-bit
/// arithmetic (a sector near 2^64 / 512 wraps to the start of the disk) and data need not be whole sectors;
/// used.len = data bytes + 1 for every type (qiov.size + sizeof(*req-&gt;in)). Missing buffers (C would index
/// in_sg[-1]) break the device as QEMU 0.12's exit(1) check does.
/// </para>
/// </summary>
public sealed class VirtioBlkDevice : VirtioDevice
{
    /// <summary>DeviceResult code of a completed request: Value = (type &lt;&lt; 32) | status, Data = sector
    /// (le64).</summary>
    public const ulong ResultRequest = 2;

    /// <summary>Bytes moved between guest memory and the backend per step (host scratch buffer).</summary>
    public const int ScratchBytes = 64 * 1024;

    /// <summary>QEMU BDRV_REQUEST_MAX_SECTORS (INT_MAX &gt;&gt; 9 rounded to the request alignment): larger requests
    /// are IOERR.</summary>
    public const ulong RequestSectorsMax = int.MaxValue >> BlkSpec.SectorShift;

    private readonly BlkDeviceOptions _options;
    private readonly IBlockBackend _backend;
    private readonly QueueElement _element = new();
    private readonly byte[] _scratch = new byte[ScratchBytes];

    // Per-request host state reused across requests (QEMU's VirtIOBlockReq out header and the GET_ID buffer): kept in
    // fields so a test build's poison (IHostPoison) can show a request answered from bytes this request never set.
    private readonly byte[] _header = new byte[BlkSpec.OutHeaderSize];
    private readonly byte[] _id = new byte[BlkSpec.IdBytes + 1];
    private readonly byte[] _serial;

    /// <summary>A virtio-blk device over <paramref name="backend"/>.</summary>
    public VirtioBlkDevice(IBlockBackend backend, BlkDeviceOptions? options = null)
        : base(
            BlkSpec.DeviceId,
            [CheckedQueueSize(options)],
            FeaturesFor(backend),
            BlkSpec.ConfigSize,
            (options ?? new BlkDeviceOptions()).TraceId
        )
    {
        ArgumentNullException.ThrowIfNull(backend);
        _options = options ?? new BlkDeviceOptions();
        _backend = backend;
        _serial = Encoding.ASCII.GetBytes(_options.Serial);
        Span<byte> c = Config;
        BinaryPrimitives.WriteUInt64LittleEndian(c[BlkSpec.ConfigCapacityOffset..], CapacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[BlkSpec.ConfigSizeMaxOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(c[BlkSpec.ConfigSegMaxOffset..], _options.SegMax);
        BinaryPrimitives.WriteUInt32LittleEndian(c[BlkSpec.ConfigGeometryOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(c[BlkSpec.ConfigBlkSizeOffset..], BlkSpec.SectorSize);
    }

    /// <summary>Seed (seed 003 as written) or robust (QEMU's checks).</summary>
    public Flavour Flavour => _options.Flavour;

    /// <summary>The options it was built with.</summary>
    public BlkDeviceOptions Options => _options;

    /// <summary>The storage behind the device.</summary>
    public IBlockBackend Backend => _backend;

    /// <summary>Capacity in 512-byte sectors (config capacity).</summary>
    public ulong CapacitySectors => _backend.SizeBytes >> BlkSpec.SectorShift;

    /// <summary>Requests by type and outcome.</summary>
    public BlkStats Stats { get; } = new();

    private static int CheckedQueueSize(BlkDeviceOptions? options)
    {
        (options ?? new BlkDeviceOptions()).Validate();
        return (options ?? new BlkDeviceOptions()).QueueSize;
    }

    private static ulong FeaturesFor(IBlockBackend backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ulong f = (1UL << BlkSpec.FSegMax) | (1UL << BlkSpec.FBlkSize) | (1UL << BlkSpec.FFlush);
        if (backend.IsReadOnly)
            f |= 1UL << BlkSpec.FRo;
        return f;
    }

    /// <summary>QEMU virtio_blk_set_config stores only writeback (not offered here); the capacity is
    /// read-only.</summary>
    protected override void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    /// <summary>QEMU virtio_blk_handle_vq: pop and handle until the queue is empty or the device breaks.</summary>
    protected override void HandleQueueNotify(int queueIndex)
    {
        // Each pop consumes one available entry and the guest cannot add meanwhile: at most a queue's worth.
        int max = GetQueue(queueIndex).Size;
        for (int i = 0; i < max; i++)
        {
            if (!TryPop(queueIndex, _element))
                return;
            if (Poison is { } poison)
            {
                poison.Fill(_header);
                poison.Fill(_id);
                poison.Fill(_scratch);
            }
            bool ok = _options.Flavour == Flavour.Seed ? TryHandleSeed(queueIndex) : TryHandleRobust(queueIndex);
            if (!ok)
                return;
        }
    }

    // ------------------------------------------------------------------ robust: QEMU virtio_blk_handle_request

    private bool TryHandleRobust(int queueIndex)
    {
        QueueElement e = _element;
        if (e.OutCount < 1 || e.InCount < 1)
            return Malformed("virtio-blk missing headers");
        Span<byte> header = _header;
        if (e.ReadOut(Memory, 0, header) != BlkSpec.OutHeaderSize)
            return Malformed("virtio-blk request outhdr too short");
        if (e.In[e.InCount - 1].Len < BlkSpec.InHeaderSize)
            return Malformed("virtio-blk request inhdr too short");
        ulong statusOffset = e.InBytes - BlkSpec.InHeaderSize; // "We always touch the last byte"
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header[BlkSpec.OutHeaderTypeOffset..]);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[BlkSpec.OutHeaderSectorOffset..]);
        byte status;
        switch (type & ~(BlkSpec.TypeOut | BlkSpec.TypeBarrier))
        {
            case BlkSpec.TypeIn:
            {
                bool isWrite = (type & BlkSpec.TypeOut) != 0;
                ulong size = isWrite ? e.OutBytes - BlkSpec.OutHeaderSize : statusOffset;
                if (!SectorRangeOk(sector, size))
                {
                    status = BlkSpec.StatusIoErr;
                    break;
                }
                ulong offset = sector << BlkSpec.SectorShift;
                status = isWrite ? CopyToDisk(BlkSpec.OutHeaderSize, offset, size) : CopyToGuest(0, offset, size);
                if (status == BlkSpec.StatusOk)
                {
                    if (isWrite)
                        Stats.Writes++;
                    else
                        Stats.Reads++;
                }
                break;
            }
            case BlkSpec.TypeFlush:
                status = Flush();
                break;
            case BlkSpec.TypeGetId:
            {
                // QEMU: size = MIN(strlen(serial) + 1, MIN(iov_size(in_iov), VIRTIO_BLK_ID_BYTES)), serial
                // NUL-terminated.
                ulong size = Math.Min(Narrow.AsUInt64Bits(_serial.Length) + 1, Math.Min(statusOffset, BlkSpec.IdBytes));
                Span<byte> id = _id;
                id.Clear();
                _serial.CopyTo(id);
                e.WriteIn(Memory, 0, id[..Narrow.LowInt32(size)]);
                Stats.GetIds++;
                status = BlkSpec.StatusOk;
                break;
            }
            default:
                // SCSI_CMD: QEMU virtio_blk_handle_scsi answers UNSUPP (SCSI passthrough is gone); unknown types too.
                status = BlkSpec.StatusUnsupp;
                break;
        }
        e.WriteIn(Memory, statusOffset, [status]);
        Complete(queueIndex, type, sector, status, e.InBytes);
        return true;
    }

    /// <summary>QEMU virtio_blk_sect_range_ok: whole sectors, at most <see cref="RequestSectorsMax"/>, inside the
    /// capacity, computed without overflow.</summary>
    private bool SectorRangeOk(ulong sector, ulong size)
    {
        ulong sectors = size >> BlkSpec.SectorShift;
        if (sectors > RequestSectorsMax)
            return false;
        if (size % BlkSpec.SectorSize != 0)
            return false;
        ulong total = CapacitySectors;
        return sector <= total && sectors <= total - sector;
    }

    // ------------------------------------------------------------------ seed: synthesized from seed 003 (QEMU 0.12)

    private bool TryHandleSeed(int queueIndex)
    {
        QueueElement e = _element;
        if (e.OutCount < 1 || e.InCount < 1)
            return Malformed("virtio-blk missing headers");
        // req->out = out_sg[0].iov_base: 16 bytes at that address, whatever the buffer's length.
        Span<byte> header = stackalloc byte[BlkSpec.OutHeaderSize];
        if (!Memory.TryRead(e.Out[0].Addr, header))
            return Malformed("virtio-blk seed: header read past guest memory (a host crash in the seed)");
        // req->in = in_sg[in_num - 1].iov_base: the status is the FIRST byte of the last writable buffer.
        Iovec statusBuffer = e.In[e.InCount - 1];
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header[BlkSpec.OutHeaderTypeOffset..]);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[BlkSpec.OutHeaderSectorOffset..]);
        byte status;
        ulong dataBytes = 0;
        if ((type & BlkSpec.TypeFlush) != 0)
        {
            status = Flush();
        }
        else if ((type & BlkSpec.TypeScsiCmd) != 0)
        {
            status = BlkSpec.StatusUnsupp;
        }
        else if ((type & BlkSpec.TypeOut) != 0)
        {
            // qemu_iovec_init_external(&req->qiov, &req->elem.out_sg[1], out_num - 1)
            ulong skip = e.Out[0].Len;
            dataBytes = e.OutBytes - skip;
            status = SeedRangeOk(sector, dataBytes, out ulong offset)
                ? CopyToDisk(skip, offset, dataBytes)
                : BlkSpec.StatusIoErr;
            if (status == BlkSpec.StatusOk)
                Stats.Writes++;
        }
        else
        {
            // qemu_iovec_init_external(&req->qiov, &req->elem.in_sg[0], in_num - 1): GET_ID and unknown types land
            // here.
            dataBytes = e.InBytes - statusBuffer.Len;
            status = SeedRangeOk(sector, dataBytes, out ulong offset)
                ? CopyToGuest(0, offset, dataBytes)
                : BlkSpec.StatusIoErr;
            if (status == BlkSpec.StatusOk)
                Stats.Reads++;
        }
        bool written = Memory.TryWrite(statusBuffer.Addr, [status]);
        if (!written)
            throw new InvalidOperationException("validated status buffer not writable");
        // virtqueue_push(s->vq, &req->elem, req->qiov.size + sizeof(*req->in)), for every type.
        Complete(queueIndex, type, sector, status, dataBytes + BlkSpec.InHeaderSize);
        return true;
    }

    /// <summary>Seed: bdrv_check_byte_request's offset + size &gt; length with offset = sector * 512, both
    /// wrapping.</summary>
    private bool SeedRangeOk(ulong sector, ulong size, out ulong offset)
    {
        offset = unchecked(sector * BlkSpec.SectorSize);
        ulong end = unchecked(offset + size);
        return end <= _backend.SizeBytes;
    }

    // ------------------------------------------------------------------ shared

    private byte Flush()
    {
        if (!_backend.TryFlush())
            return BlkSpec.StatusIoErr;
        Stats.Flushes++;
        return BlkSpec.StatusOk;
    }

    /// <summary>Disk → guest: <paramref name="size"/> bytes at disk <paramref name="offset"/> into the writable
    /// buffers from <paramref name="inOffset"/>. A backend failure is IOERR (what was copied stays).</summary>
    private byte CopyToGuest(ulong inOffset, ulong offset, ulong size)
    {
        ulong done = 0;
        while (done < size)
        {
            int chunk = unchecked((int)Math.Min((ulong)_scratch.Length, size - done));
            Span<byte> buf = _scratch.AsSpan(0, chunk);
            if (!_backend.TryRead(offset + done, buf))
                return BlkSpec.StatusIoErr;
            int wrote = _element.WriteIn(Memory, inOffset + done, buf);
            if (wrote != chunk)
                throw new InvalidOperationException("writable buffers shorter than computed");
            Stats.BytesRead += chunk;
            done += Narrow.AsUInt64Bits(chunk);
        }
        return BlkSpec.StatusOk;
    }

    /// <summary>Guest → disk: <paramref name="size"/> readable bytes from <paramref name="outOffset"/> to disk
    /// <paramref name="offset"/>.</summary>
    private byte CopyToDisk(ulong outOffset, ulong offset, ulong size)
    {
        ulong done = 0;
        while (done < size)
        {
            int chunk = unchecked((int)Math.Min((ulong)_scratch.Length, size - done));
            Span<byte> buf = _scratch.AsSpan(0, chunk);
            int read = _element.ReadOut(Memory, outOffset + done, buf);
            if (read != chunk)
                throw new InvalidOperationException("readable buffers shorter than computed");
            if (!_backend.TryWrite(offset + done, buf))
                return BlkSpec.StatusIoErr;
            Stats.BytesWritten += chunk;
            done += Narrow.AsUInt64Bits(chunk);
        }
        return BlkSpec.StatusOk;
    }

    private bool Malformed(string reason)
    {
        Stats.Malformed++;
        SetBroken(reason);
        return false;
    }

    private void Complete(int queueIndex, uint type, ulong sector, byte status, ulong len)
    {
        Stats.Requests++;
        if (status == BlkSpec.StatusIoErr)
            Stats.IoErrors++;
        else if (status == BlkSpec.StatusUnsupp)
            Stats.Unsupported++;
        Span<byte> data = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, sector);
        Simulation.Emit(
            TraceEventKind.DeviceResult,
            TraceId,
            ResultRequest,
            ((ulong)type << 32) | status,
            Simulation.IsTracing ? data : default
        );
        // used.len is 32 bits; QEMU truncates in_len, a guest offering more than 4 GiB of writable buffers gets its low
        // bits.
        TryPush(queueIndex, _element, Narrow.LowUInt32(len));
        NotifyQueue(queueIndex);
    }
}
