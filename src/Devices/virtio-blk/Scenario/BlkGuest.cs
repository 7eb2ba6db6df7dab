using System.Globalization;
using System.Text;
using Sim.Devices.Virtio.Blk;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Guest.Drivers;
using Sim.Guest.Drivers.Blk;
using Sim.Machine.Kvm;
using Sim.Spec.Blk;

namespace Sim.Scenarios;

/// <summary>
/// The guest of "blk": probe, then a test program: GET_ID, <c>writes</c> writes of random data (the guest's PRNG)
/// at random sectors, each read back and compared, FLUSH, and a read one sector past the end that must fail with
/// IOERR. Prints one line per step, like a test program would.
/// </summary>
internal sealed class BlkGuest : VirtioGuestProgram<VirtioBlkDriver>
{
    private readonly int _writes;
    private readonly int _sectorsPerRequest;
    private readonly PerRequestReport _report;

    /// <summary>Requests completed so far by <see cref="Run"/>.</summary>
    private long _requests;

    public BlkGuest(
        int writes,
        int sectorsPerRequest,
        PerRequestReport report,
        VirtioDriverTransport transport,
        VirtioInterruptMode irq,
        Func<int, int, uint> intxGsi
    )
        : base(transport, irq, intxGsi)
    {
        _writes = writes;
        _sectorsPerRequest = sectorsPerRequest;
        _report = report;
    }

    /// <summary>Read-backs that did not match what was written.</summary>
    public int Mismatches { get; private set; }

    /// <summary>Steps whose outcome was not what a correct device gives.</summary>
    public int Failures { get; private set; }

    public override IEnumerator<VcpuStep> Run(GuestContext guest)
    {
        var driver = new VirtioBlkDriver(guest);
        if (!TryProbe(guest, driver, "blk: probe failed"))
            yield break;
        ulong capacity = driver.CapacitySectors;
        ulong capacityBytes = capacity * BlkSpec.SectorSize;
        guest.Print(
            F($"blk: capacity {capacity} sectors ({capacityBytes} bytes){(driver.ReadOnly ? " read-only" : "")}")
        );
        _report.Start(guest.Now);
        _requests = 0;
        foreach (VcpuStep s in GetId(guest, driver))
            yield return s;
        foreach (VcpuStep s in WritesReadBack(guest, driver, capacity))
            yield return s;
        foreach (VcpuStep s in FlushAndReadPastEnd(guest, driver, capacity))
            yield return s;
        _report.Requests = _requests;
        _report.Stop(guest.Now);
        guest.Print(F($"blk: done, {_requests} requests, {Mismatches} mismatches, {Failures} failures"));
    }

    /// <summary>One request through the driver (Linux virtio_queue_rq), counted once it completed.</summary>
    private IEnumerable<VcpuStep> Request(VirtioBlkDriver driver, uint type, ulong sector, int dataBytes)
    {
        foreach (VcpuStep s in driver.Submit(type, sector, dataBytes))
            yield return s;
        _requests++;
    }

    /// <summary>VIRTIO_BLK_T_GET_ID (VIRTIO 1.2 §5.2.6): the device's id string, printed.</summary>
    private IEnumerable<VcpuStep> GetId(GuestContext guest, VirtioBlkDriver driver)
    {
        foreach (VcpuStep s in Request(driver, BlkSpec.TypeGetId, 0, BlkSpec.IdBytes))
            yield return s;
        var id = new byte[BlkSpec.IdBytes];
        guest.Memory.TryRead(driver.DataBuffer, id);
        guest.Print(F($"get_id: {StatusName(driver.LastStatus)} len={driver.LastUsedLen} id={FormatId(id)}"));
    }

    /// <summary>The writes: random data (the guest's PRNG) at a random sector that holds the whole request, each
    /// read back into a cleared buffer and compared (VIRTIO_BLK_T_OUT then VIRTIO_BLK_T_IN, §5.2.6).</summary>
    private IEnumerable<VcpuStep> WritesReadBack(GuestContext guest, VirtioBlkDriver driver, ulong capacity)
    {
        GuestMemory memory = guest.Memory;
        int bytes = _sectorsPerRequest * BlkSpec.SectorSize;
        var written = new byte[bytes];
        var back = new byte[bytes];
        ulong span =
            capacity >= Narrow.AsUInt64Bits(_sectorsPerRequest)
                ? capacity - Narrow.AsUInt64Bits(_sectorsPerRequest) + 1
                : 1;
        for (int i = 0; i < _writes; i++)
        {
            ulong sector = guest.Prng.UInt64LessThan(span);
            guest.Prng.NextBytes(written);
            memory.TryWrite(driver.DataBuffer, written);
            foreach (VcpuStep s in Request(driver, BlkSpec.TypeOut, sector, bytes))
                yield return s;
            byte wstatus = driver.LastStatus;
            uint wlen = driver.LastUsedLen;
            memory.TryWrite(driver.DataBuffer, new byte[bytes]); // clear, so the read must bring the data back
            foreach (VcpuStep s in Request(driver, BlkSpec.TypeIn, sector, bytes))
                yield return s;
            memory.TryRead(driver.DataBuffer, back);
            bool match = back.AsSpan().SequenceEqual(written);
            if (!match)
                Mismatches++;
            if (wstatus != BlkSpec.StatusOk || driver.LastStatus != BlkSpec.StatusOk || !match)
                Failures++;
            guest.Print(
                F($"write sector {sector} x{_sectorsPerRequest}: {StatusName(wstatus)} len={wlen}; read back: ")
                    + F($"{StatusName(driver.LastStatus)} len={driver.LastUsedLen} {(match ? "match" : "MISMATCH")}")
            );
        }
    }

    /// <summary>VIRTIO_BLK_T_FLUSH, which must succeed, then a read of the sector one past the end, which must fail
    /// with VIRTIO_BLK_S_IOERR (QEMU virtio_blk_sect_range_ok refuses a request beyond the capacity).</summary>
    private IEnumerable<VcpuStep> FlushAndReadPastEnd(GuestContext guest, VirtioBlkDriver driver, ulong capacity)
    {
        foreach (VcpuStep s in Request(driver, BlkSpec.TypeFlush, 0, 0))
            yield return s;
        if (driver.LastStatus != BlkSpec.StatusOk)
            Failures++;
        guest.Print(F($"flush: {StatusName(driver.LastStatus)} len={driver.LastUsedLen}"));

        foreach (VcpuStep s in Request(driver, BlkSpec.TypeIn, capacity, BlkSpec.SectorSize))
            yield return s;
        if (driver.LastStatus != BlkSpec.StatusIoErr)
            Failures++;
        guest.Print(
            F($"read sector {capacity} (one past the end): {StatusName(driver.LastStatus)} len={driver.LastUsedLen}")
        );
    }

    private static string StatusName(byte status) =>
        status switch
        {
            BlkSpec.StatusOk => "OK",
            BlkSpec.StatusIoErr => "IOERR",
            BlkSpec.StatusUnsupp => "UNSUPP",
            _ => F($"status 0x{status:x2}"),
        };

    /// <summary>The id up to its NUL, quoted when printable, else as hex.</summary>
    private static string FormatId(byte[] id)
    {
        int end = Array.IndexOf(id, (byte)0);
        if (end < 0)
            end = id.Length;
        bool printable = true;
        for (int i = 0; i < end; i++)
            printable &= id[i] is >= 0x20 and <= 0x7E;
        return printable ? "\"" + Encoding.ASCII.GetString(id, 0, end) + "\"" : Convert.ToHexStringLower(id);
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
