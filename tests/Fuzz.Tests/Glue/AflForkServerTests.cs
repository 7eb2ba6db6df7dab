using System.Buffers.Binary;
using Virtsim.Fuzz.Glue;
using Xunit.Abstractions;

namespace Fuzz.Tests.Glue;

/// <summary>
/// <see cref="AflForkServer"/> against a fake afl-fuzz written here: it creates the shared map (shmget), writes
/// each test case where afl-fuzz would (a stdin-style file rewritten and truncated in place, or a file recreated
/// for <c>@@</c>), clears the map, asks for a run on the control pipe, reads the pid and the status, and
/// inspects the map, as afl-forkserver.c does.
/// </summary>
public sealed class AflForkServerTests(ITestOutputHelper output) : IDisposable
{
    private const int Pid = 4242;
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-afl-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class FakeAfl : IDisposable
    {
        public readonly PipePair Control = new();
        public readonly PipePair Status = new();
        public readonly SharedMemoryMap Map = SharedMemoryMap.Create(AflForkServer.DefaultMapSize);

        public int ReadWord()
        {
            var word = new byte[4];
            Status.Reader.ReadExactly(word);
            return BinaryPrimitives.ReadInt32LittleEndian(word);
        }

        /// <summary>One run as afl_fsrv_run_target does it: clear the map, request, read pid then status.</summary>
        public (int Pid, int Status, byte[] Map) RunOnce()
        {
            Map.Clear();
            Control.Writer.Write([0, 0, 0, 0]);
            Control.Writer.Flush();
            int pid = ReadWord();
            int status = ReadWord();
            var map = new byte[Map.Size];
            Map.Read(map);
            return (pid, status, map);
        }

        public void Dispose()
        {
            Control.Dispose();
            Status.Dispose();
            Map.Dispose();
        }
    }

    private static Task<(bool Ok, string? Error)> Serve(AflForkServer server) =>
        Task.Run(() => (server.Serve(out string? error), error));

    [Fact]
    public async Task Afl_StdinStyleFile_HelloThenPidAndStatusPerRun_CrashIsSigabrt_EdgesInSharedMap()
    {
        using var afl = new FakeAfl();
        string curInput = Path.Combine(_dir, ".cur_input");
        using var file = new FileStream(curInput, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite);
        Assert.True(AflInput.TryFromHandle(file.SafeFileHandle, out AflInput? input));
        var target = new FakeGlueTarget();
        var server = new AflForkServer(target, afl.Control.Reader, afl.Status.Writer, input!, afl.Map, Pid)
        {
            Log = new StringWriter(),
        };
        Task<(bool Ok, string? Error)> serving = Serve(server);

        Assert.Equal(0, afl.ReadWord()); // hello: the classic form, no FS_OPT bits
        byte[][] inputs =
        [
            [1, 2, 3, 4, 5],
            [7],
            [0xFF, 9],
            [],
            [2, 2],
        ];
        for (int i = 0; i < inputs.Length; i++)
        {
            // afl_fsrv_write_to_testcase with use_stdin: write at 0, truncate to the length, seek back to 0.
            file.Position = 0;
            file.Write(inputs[i]);
            file.SetLength(inputs[i].Length);
            file.Flush();
            file.Position = 0;
            (int pid, int status, byte[] map) = afl.RunOnce();
            output.WriteLine($"run {i}: [{string.Join(',', inputs[i])}] -> pid {pid} status {status}");
            Assert.Equal(Pid, pid);
            Assert.Equal(i == 2 ? GlueVerdict.SignalAbort : 0, status);
            // Exactly the edges this input left (a shorter input after a longer one leaves no stale bytes).
            for (int e = 1000; e < 1000 + 256; e++)
                Assert.Equal(inputs[i].Count(b => b + 1000 == e), map[e]);
            Assert.Equal(inputs[i].Length, map.Sum(b => (int)b));
        }
        afl.Control.Writer.Dispose(); // afl-fuzz exits
        (bool ok, string? error) = await serving;
        Assert.True(ok, error);
        Assert.Equal(inputs.Length, server.Runs);
        Assert.Equal(1, server.Crashes);
        Assert.Equal(inputs.Length, target.Runs);
    }

    [Fact]
    public async Task Afl_AtAtFile_IsReopenedEachRun()
    {
        using var afl = new FakeAfl();
        string path = Path.Combine(_dir, "cur");
        var server = new AflForkServer(
            new FakeGlueTarget(),
            afl.Control.Reader,
            afl.Status.Writer,
            AflInput.FromPath(path),
            afl.Map,
            Pid
        );
        Task<(bool Ok, string? Error)> serving = Serve(server);
        Assert.Equal(0, afl.ReadWord());
        foreach (byte first in new byte[] { 3, 0xFF, 4 })
        {
            File.Delete(path); // afl-fuzz unlinks and recreates the @@ file
            File.WriteAllBytes(path, [first, 1]);
            (_, int status, byte[] map) = afl.RunOnce();
            Assert.Equal(first == 0xFF ? GlueVerdict.SignalAbort : 0, status);
            Assert.Equal(1, map[1000 + 1]);
        }
        afl.Control.Writer.Dispose();
        Assert.True((await serving).Ok);
        Assert.Equal(3, server.Runs);
    }

    [Fact]
    public async Task Afl_ControlClosedMidWord_OrInputMissing_IsAProtocolError()
    {
        using (var afl = new FakeAfl())
        {
            var server = new AflForkServer(
                new FakeGlueTarget(),
                afl.Control.Reader,
                afl.Status.Writer,
                AflInput.FromPath(Path.Combine(_dir, "x")),
                afl.Map,
                Pid
            );
            Task<(bool Ok, string? Error)> serving = Serve(server);
            Assert.Equal(0, afl.ReadWord());
            afl.Control.Writer.Write([0, 0]);
            afl.Control.Writer.Dispose();
            (bool ok, string? error) = await serving;
            Assert.False(ok);
            Assert.Contains("mid-message", error, StringComparison.Ordinal);
        }
        using (var afl = new FakeAfl())
        {
            var server = new AflForkServer(
                new FakeGlueTarget(),
                afl.Control.Reader,
                afl.Status.Writer,
                AflInput.FromPath(Path.Combine(_dir, "missing")),
                afl.Map,
                Pid
            );
            Task<(bool Ok, string? Error)> serving = Serve(server);
            Assert.Equal(0, afl.ReadWord());
            afl.Control.Writer.Write([0, 0, 0, 0]);
            afl.Control.Writer.Flush();
            (bool ok, string? error) = await serving;
            Assert.False(ok);
            Assert.Contains("cannot read the test case", error, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AflInput_RefusesAPipeAsStdin()
    {
        using var pipe = new PipePair();
        var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(
            ((System.IO.Pipes.PipeStream)pipe.Reader).SafePipeHandle.DangerousGetHandle(),
            ownsHandle: false
        );
        Assert.False(AflInput.TryFromHandle(handle, out _));
    }

    [Fact]
    public void MapSize_DefaultsTo64KiB_AndRejectsJunk()
    {
        Assert.True(GlueEntry.TryMapSize(null, out int size));
        Assert.Equal(65536, size);
        Assert.True(GlueEntry.TryMapSize("262144", out size));
        Assert.Equal(262144, size);
        Assert.False(GlueEntry.TryMapSize("-1", out _));
        Assert.False(GlueEntry.TryMapSize("64k", out _));
    }
}
