using System.Buffers.Binary;
using System.Globalization;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Reference models of the robust devices' answers (issue 12 item 2): for the bytes the guest offered in a chain's
/// readable part, what the writable part, used.len and the device log must hold once the device published the chain.
/// Each model is a few lines written from the seed or QEMU function it cites, not from the device code, so a device
/// that answers from stale values, copies a field it never read, or reports a wrong length disagrees with it. A model
/// returns null when the device's answer is right. Inputs are the bytes after completion: readable and writable parts
/// in descriptor order (the oracle gives only chains whose buffers do not overlap, so these are what the guest offered
/// and what the device wrote).
/// </summary>
internal static class DeviceReferenceModels
{
    /// <summary>Seed 000 realize: s-&gt;buff = 0x1333 (robust: restored by reset).</summary>
    public const uint DemoInitialState = 0x1333;

    /// <summary>Counter robust: most 4-byte numbers in one request.</summary>
    public const int CounterNumbersMax = 4096;

    /// <summary>Bytes of a sector (VIRTIO 1.2 §5.2.6: sector counts 512-byte units).</summary>
    public const int BlkSector = 512;

    /// <summary>virtio-demo robust (seed 000 lab 2 virtio_demo_handle, lengths checked): a request is {opt le32, buff
    /// le32} and needs 8 readable and 8 writable bytes, else used.len 0 and the state is unchanged. opt 0 answers
    /// {0, state}; opt 1 stores buff and answers {1, buff}; any other opt echoes {opt, buff}. used.len 8.</summary>
    public static ResponseMismatch? Demo(
        ref uint state,
        ReadOnlySpan<byte> readable,
        ReadOnlySpan<byte> writable,
        uint usedLen
    )
    {
        if (readable.Length < 8 || writable.Length < 8)
        {
            return usedLen == 0
                ? null
                : new(
                    "response/demo-short-request",
                    $"a request with {readable.Length} readable and {writable.Length} writable bytes (needs 8 and 8) "
                        + $"completed with used.len {usedLen}, not 0"
                );
        }
        uint opt = BinaryPrimitives.ReadUInt32LittleEndian(readable);
        uint buff = BinaryPrimitives.ReadUInt32LittleEndian(readable[4..]);
        uint answer = opt == 0 ? state : buff;
        if (opt == 1)
            state = buff;
        uint gotOpt = BinaryPrimitives.ReadUInt32LittleEndian(writable);
        uint gotAnswer = BinaryPrimitives.ReadUInt32LittleEndian(writable[4..]);
        if (gotOpt != opt || gotAnswer != answer || usedLen != 8)
        {
            return new(
                "response/demo",
                $"request {{opt {opt:x}, buff {buff:x}}}: expected response {{{opt:x}, {answer:x}}} with used.len 8, "
                    + $"the device wrote {{{gotOpt:x}, {gotAnswer:x}}} with used.len {usedLen}"
            );
        }
        return null;
    }

    /// <summary>The robust demo's log line for a request of <paramref name="readable"/> bytes and
    /// <paramref name="writableLength"/> writable bytes, the state <paramref name="state"/> before it: a full request
    /// "request opt=%x buff=%x -&gt; response {opt, answer} state=%x", a short one "short request: out=%d in=%d bytes,
    /// completed with len 0".</summary>
    public static string DemoLogLine(ReadOnlySpan<byte> readable, int writableLength, uint state)
    {
        if (readable.Length < 8 || writableLength < 8)
        {
            return string.Create(
                CultureInfo.InvariantCulture,
                $"short request: out={readable.Length} in={writableLength} bytes, completed with len 0"
            );
        }
        uint opt = BinaryPrimitives.ReadUInt32LittleEndian(readable);
        uint buff = BinaryPrimitives.ReadUInt32LittleEndian(readable[4..]);
        uint answer = opt == 0 ? state : buff;
        uint after = opt == 1 ? buff : state;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"request opt={opt:x} buff={buff:x} -> response {{{opt:x}, {answer:x}}} state={after:x}"
        );
    }

    /// <summary>factorial robust (seed 001 virtio_test_handle_output, lengths checked): struct test_request {arg1 u32,
    /// arg2 char[32]} needs 36 readable bytes and 4 writable, else used.len 0; ret = arg1! in u32 arithmetic, used.len
    /// 4.</summary>
    public static ResponseMismatch? Factorial(ReadOnlySpan<byte> readable, ReadOnlySpan<byte> writable, uint usedLen)
    {
        if (readable.Length < 36 || writable.Length < 4)
        {
            return usedLen == 0
                ? null
                : new(
                    "response/factorial-short-request",
                    $"a request with {readable.Length} readable and {writable.Length} writable bytes (needs 36 and 4) "
                        + $"completed with used.len {usedLen}, not 0"
                );
        }
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(readable);
        uint expected = FactorialOf(n);
        uint got = BinaryPrimitives.ReadUInt32LittleEndian(writable);
        if (got != expected || usedLen != 4)
        {
            return new(
                "response/factorial",
                $"arg1 {n}: expected ret {expected} with used.len 4, the device wrote {got} with used.len {usedLen}"
            );
        }
        return null;
    }

    /// <summary>The robust factorial's log line for a request of <paramref name="readable"/> bytes and
    /// <paramref name="writableLength"/> writable bytes: a full request "request arg1=%u arg2="%s" -&gt; ret=%u", arg2
    /// the request's 32 bytes up to the first NUL with printable ASCII (0x20..0x7e) as is and every other byte as
    /// <c>\xNN</c> (the seed's <c>%s</c> made safe: never past arg2); a short one "short request: out=%d in=%d bytes,
    /// completed with len 0".</summary>
    public static string FactorialLogLine(ReadOnlySpan<byte> readable, int writableLength)
    {
        if (readable.Length < 36 || writableLength < 4)
        {
            return string.Create(
                CultureInfo.InvariantCulture,
                $"short request: out={readable.Length} in={writableLength} bytes, completed with len 0"
            );
        }
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(readable);
        var arg2 = new System.Text.StringBuilder(32);
        for (int i = 4; i < 36 && readable[i] != 0; i++)
        {
            byte b = readable[i];
            if (b >= 0x20 && b <= 0x7e)
                arg2.Append((char)b);
            else
                arg2.Append(CultureInfo.InvariantCulture, $"\\x{b:x2}");
        }
        return string.Create(CultureInfo.InvariantCulture, $"request arg1={n} arg2=\"{arg2}\" -> ret={FactorialOf(n)}");
    }

    /// <summary>n! in u32 arithmetic. Once the product is 0 (from 34! on: 2^32 divides it) it stays 0, so the loop
    /// ends for every n.</summary>
    private static uint FactorialOf(uint n)
    {
        uint result = 1;
        for (uint i = 2; i <= n && result != 0; i++)
            result = unchecked(result * i);
        return result;
    }

    /// <summary>counter robust (seed 002 virtio_test_handle_output: qemu_log("=========get virtio num:%d") per
    /// 4-byte number, little-endian): a request must be 1..4096 whole numbers (else the device breaks, NEEDS_RESET,
    /// and completes nothing); each number is logged in order and used.len is 0 (nothing written, VIRTIO 1.2 §2.7.8.1).
    /// <paramref name="newLines"/> are the log lines added since the previous completion the oracle saw (timer lines,
    /// and
    /// lines of requests it did not judge, may be among them).</summary>
    public static ResponseMismatch? Counter(ReadOnlySpan<byte> readable, uint usedLen, IReadOnlyList<string> newLines)
    {
        ArgumentNullException.ThrowIfNull(newLines);
        int numbers = readable.Length / 4;
        if (readable.Length % 4 != 0 || numbers == 0 || numbers > CounterNumbersMax)
        {
            return new(
                "response/counter-malformed-completed",
                $"a request of {readable.Length} readable bytes (not 1..{CounterNumbersMax} 4-byte numbers) was "
                    + "completed; the robust device must break instead"
            );
        }
        if (usedLen != 0)
            return new(
                "response/counter",
                $"a request of {numbers} numbers completed with used.len {usedLen}; nothing was written, so it "
                    + "must be 0"
            );
        // The request's lines are the last get-num lines before its completion (earlier ones belong to requests the
        // oracle did not judge: completed while it was not watching, or skipped).
        var numberLines = new List<string>(numbers);
        for (int i = newLines.Count - 1; i >= 0 && numberLines.Count < numbers; i--)
        {
            if (newLines[i].StartsWith("=========get virtio num:", StringComparison.Ordinal))
                numberLines.Add(newLines[i]);
        }
        if (numberLines.Count != numbers)
            return new("response/counter-log", $"a request of {numbers} numbers logged {numberLines.Count} of them");
        for (int k = 0; k < numbers; k++)
        {
            string expected = string.Create(
                CultureInfo.InvariantCulture,
                $"=========get virtio num:{BinaryPrimitives.ReadInt32LittleEndian(readable[(4 * k)..])}"
            );
            string line = numberLines[numbers - 1 - k];
            if (line != expected)
                return new(
                    "response/counter-log",
                    $"log line {k} of a {numbers}-number request is \"{line}\", expected \"{expected}\""
                );
        }
        return null;
    }

    /// <summary>virtio-blk robust (QEMU virtio_blk_handle_request): header {type le32, reserved le32, sector le64};
    /// the status is the last writable byte and used.len is all writable bytes (virtio_blk_req_complete pushes
    /// req-&gt;in_len). type &amp; ~(OUT | BARRIER) == IN: a read of writable − 1 bytes, or (OUT bit) a write of
    /// readable − 16 bytes, at sector·512: whole sectors inside the disk (virtio_blk_sect_range_ok) → data = disk
    /// contents / disk = data and status OK, else IOERR. FLUSH and GET_ID → OK; anything else → UNSUPP.
    /// <paramref name="shadow"/> is the model's disk, updated by writes; <paramref name="disk"/> the
    /// device's.</summary>
    public static ResponseMismatch? Blk(
        ReadOnlySpan<byte> readable,
        ReadOnlySpan<byte> writable,
        uint usedLen,
        Span<byte> shadow,
        ReadOnlySpan<byte> disk
    )
    {
        if (readable.Length < 16 || writable.Length < 1)
            return new(
                "response/blk-malformed-completed",
                $"a request with {readable.Length} readable and {writable.Length} writable bytes (needs a 16-byte "
                    + "header and a status byte) was completed; the device must break instead"
            );
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(readable);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(readable[8..]);
        byte status = 2; // VIRTIO_BLK_S_UNSUPP
        bool isWrite = (type & 1) != 0;
        int size = 0;
        bool transfer = false;
        switch (type & 0x7FFF_FFFEu)
        {
            case 0:
                size = isWrite ? readable.Length - 16 : writable.Length - 1;
                ulong sectors = (ulong)size / BlkSector;
                ulong capacity = (ulong)shadow.Length / BlkSector;
                transfer = size % BlkSector == 0 && sector <= capacity && sectors <= capacity - sector;
                status = transfer ? (byte)0 : (byte)1;
                break;
            case 4:
            case 8:
                status = 0;
                break;
        }
        if (usedLen != writable.Length)
            return new(
                "response/blk-used-len",
                $"type {type:x}: used.len {usedLen}, expected all {writable.Length} writable bytes"
            );
        if (writable[^1] != status)
            return new(
                "response/blk-status",
                $"type {type:x} sector {sector} ({size} bytes): status {writable[^1]}, expected {status}"
            );
        if (!transfer)
            return null;
        int at = checked((int)sector * BlkSector);
        if (isWrite)
        {
            readable.Slice(16, size).CopyTo(shadow[at..]);
            if (!disk.Slice(at, size).SequenceEqual(shadow.Slice(at, size)))
                return new(
                    "response/blk-disk",
                    $"write of {size} bytes at sector {sector}: the disk does not hold the request's data"
                );
        }
        else if (!writable[..size].SequenceEqual(shadow.Slice(at, size)))
        {
            return new(
                "response/blk-data",
                $"read of {size} bytes at sector {sector}: the data written to the guest differs from the disk's "
                    + "contents"
            );
        }
        return null;
    }
}
