using Sim.Devices.Virtio.Blk;
using Sim.Spec.Blk;
using Virtsim.Fuzz.Targets.Rings;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// virtio-blk requests in <see cref="RingInput"/> v1 (the model target's format): a header, data and a status
/// descriptor built from raw descriptor writes (the guest actor's well-formed chains have at most 64-byte buffers,
/// too short for a sector), the header's type and sector stored with guest writes, then a kick. Offsets are from
/// <see cref="RingInput.BufferBase"/> (address kind 0). Reads, writes, flush, GET_ID, an unknown type, a sector past
/// the end, a partial sector, an indirect table, two requests in one kick, and a whole-sector write then read, one
/// kick each.
/// </summary>
internal static class BlkSeeds
{
    private const int Kick = 8;
    private const int Run = 9;
    private const byte Next = 1;
    private const byte WriteOnly = 2;
    private const byte Indirect = 4;
    private const ulong Header = 0x000;
    private const ulong Data = 0x100;
    private const ulong Status = 0x600;

    public static IEnumerable<byte[]> All()
    {
        yield return Request(BlkSpec.TypeIn, 0, 512, writable: true).Op(Kick).Build();
        yield return Request(BlkSpec.TypeOut, 3, 1024, writable: false).Op(Kick).Build();
        yield return Request(BlkSpec.TypeFlush, 0, 0, writable: false).Op(Kick).Build();
        yield return Request(BlkSpec.TypeGetId, 0, 20, writable: true).Op(Kick).Build();
        yield return Request(0x10, 0, 512, writable: true).Op(Kick).Build();
        yield return Request(BlkSpec.TypeIn, 127, 1024, writable: true).Op(Kick).Build();
        yield return Request(BlkSpec.TypeIn, 1, 100, writable: true).Op(Kick).Build();
        yield return Request(BlkSpec.TypeOut | BlkSpec.TypeBarrier, 5, 512, writable: false).Op(Kick).Build();
        // Indirect: header, data, status in table 0; descriptor 0 points at it.
        yield return new RingScenarioBuilder(4)
            .Op(RingInput.OpGuestWrite, 0, Header + 8, 0, 2)
            .Op(RingInput.OpWriteIndirectDesc, 0, Header, 0, 15, Next, 1, 0)
            .Op(RingInput.OpWriteIndirectDesc, 0, Data, 4, 512, Next | WriteOnly, 2, 1)
            .Op(RingInput.OpWriteIndirectDesc, 0, Status, 0, 0, WriteOnly, 0, 2)
            .Desc(0, 5, 0, 0, 47, Indirect, 0)
            .Publish(0)
            .Op(Kick)
            .Build();
        // Two requests in one kick: write sector 9, then read it back.
        yield return new RingScenarioBuilder(4)
            .Op(RingInput.OpGuestWrite, 0, Header, 0, BlkSpec.TypeOut)
            .Op(RingInput.OpGuestWrite, 0, Header + 8, 0, 9)
            .Op(RingInput.OpGuestWrite, 0, Data, 0, 0xDEADBEEF)
            .Desc(0, 0, Header, 0, 15, Next, 1)
            .Desc(1, 0, Data, 4, 512, Next, 2)
            .Desc(2, 0, Status, 0, 0, WriteOnly, 0)
            .Publish(0)
            .Op(RingInput.OpGuestWrite, 0, Header + 0x20 + 8, 0, 9)
            .Desc(3, 0, Header + 0x20, 0, 15, Next, 4)
            .Desc(4, 0, Data + 0x200, 4, 512, Next | WriteOnly, 5)
            .Desc(5, 0, Status + 1, 0, 0, WriteOnly, 0)
            .Publish(3)
            .Op(Kick)
            .Build();
        yield return WholeSectorWriteThenRead();
    }

    /// <summary>A one-sector VIRTIO_BLK_T_OUT of sector 1 ({header 16, data 512, status 1}, the data's first and last
    /// words set), kicked and run to completion, then a VIRTIO_BLK_T_IN of sector 1 into a fresh buffer, kicked and
    /// run: the data offsets of both directions meet the response oracle's disk model one request at a time (the
    /// structure mutator's short equal buffers never make a whole sector; a data-path mutant of
    /// virtio_blk_handle_request survives without it, docs/fuzzing-oracles.md).</summary>
    public static byte[] WholeSectorWriteThenRead()
    {
        const ulong readHeader = 0x600,
            readData = 0x800,
            readStatus = 0xa00;
        return new RingScenarioBuilder(3)
            .Op(RingInput.OpGuestWrite, 0, Header, 0, BlkSpec.TypeOut)
            .Op(RingInput.OpGuestWrite, 0, Header + 8, 0, 1)
            .Op(RingInput.OpGuestWrite, 0, Header + 0x200, 0, 0xA5C3_5A3C)
            .Op(RingInput.OpGuestWrite, 0, Header + 0x3fc, 0, 0x1234_5678)
            .Desc(0, 0, Header, 0, 15, Next, 1)
            .Desc(1, 0, Header + 0x200, 4, 512, Next, 2)
            .Desc(2, 0, Header + 0x400, 0, 0, WriteOnly, 0)
            .Publish(0)
            .Op(Kick)
            .Op(Run)
            .Op(RingInput.OpGuestWrite, 0, readHeader, 0, BlkSpec.TypeIn)
            .Op(RingInput.OpGuestWrite, 0, readHeader + 8, 0, 1)
            .Desc(3, 0, readHeader, 0, 15, Next, 4)
            .Desc(4, 0, readData, 4, 512, Next | WriteOnly, 5)
            .Desc(5, 0, readStatus, 0, 0, WriteOnly, 0)
            .Publish(3)
            .Op(Kick)
            .Op(Run)
            .Build();
    }

    /// <summary>One request: header (16 bytes) → data (<paramref name="dataLen"/> bytes, device-writable when
    /// <paramref name="writable"/>; none when 0) → 1-byte status, at descriptors 0..2, published.</summary>
    private static RingScenarioBuilder Request(uint type, uint sector, uint dataLen, bool writable)
    {
        var b = new RingScenarioBuilder(4)
            .Op(RingInput.OpGuestWrite, 0, Header, 0, type)
            .Op(RingInput.OpGuestWrite, 0, Header + 8, 0, sector);
        if (dataLen == 0)
        {
            return b.Desc(0, 0, Header, 0, 15, Next, 1).Desc(1, 0, Status, 0, 0, WriteOnly, 0).Publish(0);
        }
        return b.Desc(0, 0, Header, 0, 15, Next, 1)
            .Desc(1, 0, Data, 4, dataLen, (byte)(Next | (writable ? WriteOnly : 0)), 2)
            .Desc(2, 0, Status, 0, 0, WriteOnly, 0)
            .Publish(0);
    }
}
