using System.Buffers.Binary;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Sim.Guest.Virtio;
using Sim.Spec.Blk;

namespace Sim.Devices.Tests.Blk;

/// <summary>A virtio-blk device on a 64-sector in-memory disk behind a <see cref="VirtioRig"/>, with request
/// builders.</summary>
internal sealed class BlkRig
{
    public const ulong CapacitySectors = 64;

    private BlkRig(VirtioRig rig, VirtioBlkDevice device, MemoryBlockBackend disk)
    {
        Rig = rig;
        Device = device;
        Disk = disk;
    }

    public VirtioRig Rig { get; }

    public VirtioBlkDevice Device { get; }

    public MemoryBlockBackend Disk { get; }

    public static BlkRig Create(
        Flavour flavour,
        VirtioPciMode mode = VirtioPciMode.Legacy,
        bool readOnly = false,
        bool init = true
    )
    {
        // A disk whose every sector starts with its own number, so misdirected reads show.
        var image = new byte[CapacitySectors * BlkSpec.SectorSize];
        for (int s = 0; s < (int)CapacitySectors; s++)
        {
            image.AsSpan(s * BlkSpec.SectorSize, BlkSpec.SectorSize).Fill((byte)(0x80 + s));
            BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(s * BlkSpec.SectorSize), (uint)s);
        }
        var disk = new MemoryBlockBackend(image, readOnly);
        VirtioBlkDevice? device = null;
        VirtioRig rig = VirtioRig.Create(
            _ => device = new VirtioBlkDevice(disk, new BlkDeviceOptions { Flavour = flavour, QueueSize = 16 }),
            mode
        );
        if (init)
            rig.Init();
        return new BlkRig(rig, device!, disk);
    }

    public static byte[] SectorImage(ulong sector, int sectors = 1)
    {
        var b = new byte[sectors * BlkSpec.SectorSize];
        for (int i = 0; i < sectors; i++)
        {
            b.AsSpan(i * BlkSpec.SectorSize, BlkSpec.SectorSize).Fill((byte)(0x80 + (int)sector + i));
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i * BlkSpec.SectorSize), (uint)sector + (uint)i);
        }
        return b;
    }

    public GuestAddress Header(uint type, ulong sector)
    {
        GuestAddress h = Rig.Alloc(BlkSpec.OutHeaderSize);
        Rig.Memory.TryWriteUInt32(h, type);
        Rig.Memory.TryWriteUInt32(new GuestAddress(h.Value + 4), 0);
        Rig.Memory.TryWriteUInt64(new GuestAddress(h.Value + 8), sector);
        return h;
    }

    /// <summary>IN: header, one writable data buffer of <paramref name="dataLen"/> bytes, 1-byte status.</summary>
    public (uint Len, byte Status, byte[] Data) Read(ulong sector, uint dataLen, uint type = BlkSpec.TypeIn)
    {
        GuestAddress h = Header(type, sector);
        GuestAddress data = Rig.Alloc(dataLen, 0xEE);
        GuestAddress status = Rig.Alloc(1, 0xFF);
        uint len = Rig.Roundtrip(
            [new GuestBuffer(h, BlkSpec.OutHeaderSize)],
            [new GuestBuffer(data, dataLen), new GuestBuffer(status, 1)]
        );
        return (len, Rig.ReadByte(status), Rig.ReadBytes(data, (int)dataLen));
    }

    /// <summary>OUT: header, one readable data buffer holding <paramref name="payload"/>, 1-byte status.</summary>
    public (uint Len, byte Status) Write(ulong sector, byte[] payload)
    {
        GuestAddress h = Header(BlkSpec.TypeOut, sector);
        GuestAddress data = Rig.Alloc((ulong)payload.Length);
        Rig.Memory.TryWrite(data, payload);
        GuestAddress status = Rig.Alloc(1, 0xFF);
        uint len = Rig.Roundtrip(
            [new GuestBuffer(h, BlkSpec.OutHeaderSize), new GuestBuffer(data, (uint)payload.Length)],
            [new GuestBuffer(status, 1)]
        );
        return (len, Rig.ReadByte(status));
    }

    /// <summary>A request with only a header and a status (FLUSH, unknown types).</summary>
    public (uint Len, byte Status) Bare(uint type, ulong sector = 0)
    {
        GuestAddress h = Header(type, sector);
        GuestAddress status = Rig.Alloc(1, 0xFF);
        uint len = Rig.Roundtrip([new GuestBuffer(h, BlkSpec.OutHeaderSize)], [new GuestBuffer(status, 1)]);
        return (len, Rig.ReadByte(status));
    }

    public byte[] DiskSectors(ulong sector, int sectors = 1) =>
        Disk.Contents.Slice((int)sector * BlkSpec.SectorSize, sectors * BlkSpec.SectorSize).ToArray();
}
