using System.Buffers.Binary;
using Virtsim.Fuzz.Coverage;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets;
using Xunit;
using Xunit.Abstractions;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// The response oracle (issue 12 item 2). The reference models are judged on crafted (request, response) pairs, each
/// wrong one being what a broken device would produce (a response from the previous request's values, a field never
/// copied because the readable buffer was short, a missing log line, read data not from the disk, a write that never
/// lands); the robust targets run clean under a fuzz campaign while the oracle judges their requests.
/// </summary>
public sealed class ResponseOracleTests
{
    private readonly ITestOutputHelper _output;

    public ResponseOracleTests(ITestOutputHelper output) => _output = output;

    private static byte[] Le32(params uint[] words)
    {
        var b = new byte[4 * words.Length];
        for (int i = 0; i < words.Length; i++)
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4 * i), words[i]);
        return b;
    }

    // ---- virtio-demo (seed 000 lab 2)

    [Fact]
    public void Demo_StoreThenRead_AnswersTheStoredValue()
    {
        uint state = DeviceReferenceModels.DemoInitialState;
        Assert.Null(DeviceReferenceModels.Demo(ref state, Le32(0, 0), Le32(0, 0x1333), 8));
        Assert.Null(DeviceReferenceModels.Demo(ref state, Le32(1, 0xBEEF), Le32(1, 0xBEEF), 8));
        Assert.Null(DeviceReferenceModels.Demo(ref state, Le32(0, 7), Le32(0, 0xBEEF), 8));
        Assert.Null(DeviceReferenceModels.Demo(ref state, Le32(9, 7), Le32(9, 7), 8));
        Assert.Equal(0xBEEFu, state);
    }

    [Fact]
    public void Demo_ResponseFromThePreviousRequestsValues_Fires()
    {
        uint state = DeviceReferenceModels.DemoInitialState;
        Assert.Null(DeviceReferenceModels.Demo(ref state, Le32(1, 5), Le32(1, 5), 8));
        // A device that answers a read from a stale copy of the state (before the store).
        ResponseMismatch? m = DeviceReferenceModels.Demo(ref state, Le32(0, 0), Le32(0, 0x1333), 8);
        Assert.Equal("response/demo", m?.Site);
        // A device that echoes the previous request's buff in an unknown-opt answer.
        Assert.Equal("response/demo", DeviceReferenceModels.Demo(ref state, Le32(7, 9), Le32(7, 5), 8)?.Site);
    }

    [Fact]
    public void Demo_ShortReadableBuffer_AnsweredWithAFieldNeverCopied_Fires()
    {
        uint state = DeviceReferenceModels.DemoInitialState;
        // 4 readable bytes: only opt was offered; a device that answers anyway uses a buff the guest never gave.
        ResponseMismatch? m = DeviceReferenceModels.Demo(ref state, Le32(1), Le32(1, 0), 8);
        Assert.Equal("response/demo-short-request", m?.Site);
        Assert.Null(DeviceReferenceModels.Demo(ref state, Le32(1), Le32(0, 0), 0));
        Assert.Equal(DeviceReferenceModels.DemoInitialState, state);
    }

    [Fact]
    public void Demo_WrongUsedLen_Fires()
    {
        uint state = DeviceReferenceModels.DemoInitialState;
        Assert.Equal("response/demo", DeviceReferenceModels.Demo(ref state, Le32(0, 0), Le32(0, 0x1333), 0)?.Site);
    }

    // ---- factorial (seed 001)

    private static byte[] FactorialRequest(uint arg1, int length = 36)
    {
        var b = new byte[length];
        BinaryPrimitives.WriteUInt32LittleEndian(b, arg1);
        return b;
    }

    [Theory]
    [InlineData(0u, 1u)]
    [InlineData(5u, 120u)]
    [InlineData(13u, 1932053504u)] // 6227020800 mod 2^32
    [InlineData(34u, 0u)]
    [InlineData(uint.MaxValue, 0u)]
    public void Factorial_U32Arithmetic(uint n, uint expected)
    {
        Assert.Null(DeviceReferenceModels.Factorial(FactorialRequest(n), Le32(expected), 4));
        Assert.Equal(
            "response/factorial",
            DeviceReferenceModels.Factorial(FactorialRequest(n), Le32(expected + 1), 4)?.Site
        );
    }

    [Fact]
    public void Factorial_RetOfThePreviousRequest_Fires()
    {
        Assert.Null(DeviceReferenceModels.Factorial(FactorialRequest(5), Le32(120), 4));
        Assert.Equal("response/factorial", DeviceReferenceModels.Factorial(FactorialRequest(6), Le32(120), 4)?.Site);
    }

    [Fact]
    public void Factorial_ShortRequestAnswered_Fires()
    {
        // 4 readable bytes (arg2 never offered): the robust flavour must complete with used.len 0.
        Assert.Equal(
            "response/factorial-short-request",
            DeviceReferenceModels.Factorial(FactorialRequest(5, 4), Le32(120), 4)?.Site
        );
        Assert.Null(DeviceReferenceModels.Factorial(FactorialRequest(5, 4), Le32(0), 0));
    }

    /// <summary>The robust factorial's log line (<c>response/factorial-log</c>): arg2 up to its NUL, printable ASCII as
    /// is and every other byte escaped, never past its 32 bytes; a short request's line names both lengths.</summary>
    [Fact]
    public void Factorial_LogLine_EscapesArg2_StopsAtNul_AndNamesShortRequests()
    {
        byte[] request = FactorialRequest(5);
        "ab\"c"u8.CopyTo(request.AsSpan(4));
        request[8] = 0x7f;
        request[9] = 0x1f;
        Assert.Equal(
            "request arg1=5 arg2=\"ab\"c\\x7f\\x1f\" -> ret=120",
            DeviceReferenceModels.FactorialLogLine(request, 4)
        );
        request[5] = 0; // NUL after "a": the rest is not arg2's string
        Assert.Equal("request arg1=5 arg2=\"a\" -> ret=120", DeviceReferenceModels.FactorialLogLine(request, 4));
        byte[] unterminated = FactorialRequest(34, 40);
        unterminated.AsSpan(4, 36).Fill((byte)'x');
        Assert.Equal(
            $"request arg1=34 arg2=\"{new string('x', 32)}\" -> ret=0",
            DeviceReferenceModels.FactorialLogLine(unterminated, 4)
        );
        Assert.Equal(
            "short request: out=35 in=4 bytes, completed with len 0",
            DeviceReferenceModels.FactorialLogLine(FactorialRequest(5, 35), 4)
        );
        Assert.Equal(
            "short request: out=36 in=3 bytes, completed with len 0",
            DeviceReferenceModels.FactorialLogLine(FactorialRequest(5), 3)
        );
    }

    // ---- counter (seed 002)

    [Fact]
    public void Counter_EachNumberLoggedInOrder_TimerLinesAllowed()
    {
        string[] log =
        [
            "==============set config:0",
            "=========get virtio num:7",
            "==============set config:1",
            "=========get virtio num:-1",
        ];
        Assert.Null(DeviceReferenceModels.Counter(Le32(7, uint.MaxValue), 0, log));
    }

    [Fact]
    public void Counter_NumberMissingOrWrong_Fires()
    {
        Assert.Equal(
            "response/counter-log",
            DeviceReferenceModels.Counter(Le32(7, 8), 0, ["=========get virtio num:8"])?.Site
        );
        // A device that logs the previous request's number.
        Assert.Equal(
            "response/counter-log",
            DeviceReferenceModels.Counter(Le32(8), 0, ["=========get virtio num:7"])?.Site
        );
    }

    [Fact]
    public void Counter_SeedUsedLen_OrMalformedRequestCompleted_Fires()
    {
        Assert.Equal(
            "response/counter",
            DeviceReferenceModels.Counter(Le32(7), 4, ["=========get virtio num:7"])?.Site
        );
        Assert.Equal("response/counter-malformed-completed", DeviceReferenceModels.Counter(new byte[6], 0, [])?.Site);
    }

    // ---- virtio-blk (seed 003, QEMU virtio_blk_handle_request)

    private static byte[] BlkHeader(uint type, ulong sector, int dataBytes = 0)
    {
        var b = new byte[16 + dataBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(b, type);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), sector);
        return b;
    }

    [Fact]
    public void Blk_WriteThenRead_DataIsTheDisks()
    {
        var shadow = new byte[4096];
        var disk = new byte[4096];
        byte[] write = BlkHeader(1, 2, 512);
        write.AsSpan(16).Fill(0xAB);
        disk.AsSpan(1024, 512).Fill(0xAB); // the device's write landed
        Assert.Null(DeviceReferenceModels.Blk(write, [0], 1, shadow, disk));
        var read = new byte[513];
        read.AsSpan(0, 512).Fill(0xAB);
        Assert.Null(DeviceReferenceModels.Blk(BlkHeader(0, 2), read, 513, shadow, disk));
        // A read of the sector before: zeros.
        read.AsSpan(0, 512).Clear();
        Assert.Null(DeviceReferenceModels.Blk(BlkHeader(0, 1), read, 513, shadow, disk));
    }

    [Fact]
    public void Blk_ReadDataNotFromTheDisk_Fires()
    {
        var shadow = new byte[4096];
        shadow.AsSpan(0, 512).Fill(1);
        var stale = new byte[513]; // the guest's buffer left as it was: a device that skipped the copy
        Assert.Equal("response/blk-data", DeviceReferenceModels.Blk(BlkHeader(0, 0), stale, 513, shadow, shadow)?.Site);
    }

    [Fact]
    public void Blk_WriteThatNeverLands_Fires()
    {
        var shadow = new byte[4096];
        var disk = new byte[4096];
        byte[] write = BlkHeader(1, 0, 512);
        write.AsSpan(16).Fill(3);
        Assert.Equal("response/blk-disk", DeviceReferenceModels.Blk(write, [0], 1, shadow, disk)?.Site);
    }

    [Theory]
    [InlineData(0u, 9ul, 0, (byte)1)] // sector past the 8-sector disk: IOERR (sector 8, 0 bytes, is OK)
    [InlineData(0u, 0ul, 100, (byte)1)] // partial sector: IOERR
    [InlineData(4u, 0ul, 0, (byte)0)] // FLUSH
    [InlineData(2u, 0ul, 0, (byte)2)] // SCSI_CMD: UNSUPP
    public void Blk_Status(uint type, ulong sector, int readBytes, byte status)
    {
        var shadow = new byte[4096];
        var writable = new byte[readBytes + 1];
        writable[^1] = status;
        Assert.Null(
            DeviceReferenceModels.Blk(BlkHeader(type, sector), writable, (uint)writable.Length, shadow, shadow)
        );
        writable[^1] = (byte)(status ^ 3);
        Assert.Equal(
            "response/blk-status",
            DeviceReferenceModels.Blk(BlkHeader(type, sector), writable, (uint)writable.Length, shadow, shadow)?.Site
        );
        writable[^1] = status;
        Assert.Equal(
            "response/blk-used-len",
            DeviceReferenceModels.Blk(BlkHeader(type, sector), writable, 0, shadow, shadow)?.Site
        );
    }

    // ---- the oracle on the robust targets

    [Theory]
    [InlineData("virtio-demo-qemu-robust")]
    [InlineData("virtio-factorial-qemu-robust")]
    [InlineData("virtio-counter-qemu-robust")]
    [InlineData("virtio-blk-qemu-robust")]
    public void RobustTarget_Campaign_JudgesRequests_AndStaysClean(string name)
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create(name)!;
        const int seed = 11;
        _output.WriteLine($"seed {seed}, 3000 runs of {name}");
        CampaignResult r = new FuzzCampaign(
            target,
            new CampaignOptions { Seed = seed, RunsMax = 3000 },
            new NullCoverage("test")
        ).Run();
        _output.WriteLine($"{r.SummaryLine}; requests judged {target.ResponsesJudged}");
        Assert.Empty(r.Findings);
        Assert.True(target.ResponsesJudged > 100, $"only {target.ResponsesJudged} requests judged");
    }

    [Theory]
    [InlineData("virtio-demo-qemu-seed")]
    [InlineData("virtio-blk-qemu-seed")]
    public void SeedTarget_HasNoResponseModel(string name)
    {
        var target = (VirtioBackendTarget)FuzzTargets.Create(name)!;
        foreach (byte[] input in target.SeedCorpus())
            target.Execute(input, new FuzzContext());
        Assert.Equal(0, target.ResponsesJudged);
    }
}
