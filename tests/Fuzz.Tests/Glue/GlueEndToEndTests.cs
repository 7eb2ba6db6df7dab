using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Entry;
using Virtsim.Fuzz.Glue;
using Virtsim.Fuzz.Targets;
using Xunit.Abstractions;

namespace Fuzz.Tests.Glue;

/// <summary>
/// The whole <c>virtsim fuzz --target t --afl</c> path as afl-fuzz drives it (and <c>libfuzzer</c> as
/// tools/libfuzzer-driver does, <see cref="FakeLibFuzzerDriver"/>): a fake afl-fuzz in this process
/// creates the map segment, exports <c>__AFL_SHM_ID</c>, puts its pipes on fds 198/199 (dup2) and runs
/// <see cref="FuzzHost"/>, which instruments the target and serves the protocol inside the instrumented load
/// context; edges from the instrumented code must reach the shared map. Process-wide state (the environment,
/// fds 198/199, the coverage map): runs in the non-parallel coverage-map collection.
/// </summary>
[Collection(CoverageMapCollection.Name)]
public sealed class GlueEndToEndTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-glue-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

#pragma warning disable SYSLIB1054 // test-only P/Invoke with blittable arguments
    [DllImport("libc", EntryPoint = "pipe", SetLastError = true)]
    private static extern int Pipe([Out] int[] fds);

    [DllImport("libc", EntryPoint = "dup2", SetLastError = true)]
    private static extern int Dup2(int from, int to);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int command, int argument);

    [DllImport("libc", EntryPoint = "dup3", SetLastError = true)]
    private static extern int Dup3(int from, int to, int flags);

    /// <summary>F_DUPFD_CLOEXEC: the lowest free fd at or above the argument.</summary>
    private const int FcntlDupFdCloexec = 1030;

    /// <summary>F_GETFD: the fd's flags (FD_CLOEXEC = 1), or -1 when it is not open.</summary>
    private const int FcntlGetFd = 1;

    /// <summary>O_CLOEXEC for dup3.</summary>
    private const int OpenCloexec = 0x80000;

    /// <summary>The test process may already use the fork server's fixed fd number (it holds about 200 fds: the
    /// runtime's, loaded assemblies', other tests'); dup2 onto it would close that owner's fd behind its back, and the
    /// owner would later close or use whatever file then got the number. So a copy of the occupant is kept and put
    /// back.</summary>
    private readonly record struct SavedFd(int Fd, int Copy, int Flags)
    {
        public static SavedFd Take(int fd)
        {
            int flags = Fcntl(fd, FcntlGetFd, 0);
            if (flags < 0)
                return new SavedFd(fd, -1, 0);
            int copy = Fcntl(fd, FcntlDupFdCloexec, 256);
            Assert.True(copy >= 256, $"fcntl(F_DUPFD_CLOEXEC) of fd {fd} failed: {Marshal.GetLastPInvokeError()}");
            return new SavedFd(fd, copy, flags);
        }

        public void Restore()
        {
            if (Copy < 0)
            {
                Close(Fd);
                return;
            }
            Dup3(Copy, Fd, (Flags & 1) != 0 ? OpenCloexec : 0);
            Close(Copy);
        }
    }

    /// <summary>Moves both ends of a pipe to fds at or above 256, so that neither is one of the fork server's fixed
    /// fds (198, 199): a test process with about 200 fds open gets those numbers from pipe(2), and the dup2 onto
    /// them would then replace the pipe's own other end.</summary>
    private static void MoveAbove(int[] fds)
    {
        for (int i = 0; i < fds.Length; i++)
        {
            int moved = Fcntl(fds[i], FcntlDupFdCloexec, 256);
            Assert.True(moved >= 256, $"fcntl(F_DUPFD_CLOEXEC) failed: {Marshal.GetLastPInvokeError()}");
            Close(fds[i]);
            fds[i] = moved;
        }
    }
#pragma warning restore SYSLIB1054

    [Fact]
    public void Afl_OutsideAflFuzz_ExplainsAndExits2()
    {
        Assert.Null(Environment.GetEnvironmentVariable(AflForkServer.ShmIdVariable));
        var o = new StringWriter();
        var e = new StringWriter();
        Assert.Equal(2, FuzzEntry.Run(["--target", "split-virtqueue", "--afl"], o, e));
        Assert.Contains(
            "must be started by afl-fuzz (__AFL_SHM_ID is not set)",
            e.ToString(),
            StringComparison.Ordinal
        );
        Assert.Equal(2, FuzzEntry.Run(["--target", "split-virtqueue", "--libfuzzer-driver"], o, e));
        Assert.Contains("__LIBFUZZER_SHM_ID is not set", e.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, FuzzEntry.Run(["--target", "split-virtqueue", "--afl-input", "x"], o, e));
        Assert.Equal(2, FuzzEntry.Run(["--target", "split-virtqueue", "--afl", "--libfuzzer-driver"], o, e));
        output.WriteLine(e.ToString());
    }

    [Fact]
    public void ExecutorGlueTarget_SeedFlaw_AnswersSigabrt_RobustAnswersZero()
    {
        IFuzzTarget seed = FuzzTargets.Create("virtio-demo-qemu-seed")!;
        IFuzzTarget robust = FuzzTargets.Create("virtio-demo-qemu-robust")!;
        int fired = 0;
        foreach (byte[] input in seed.SeedCorpus())
        {
            var executor = new FuzzExecutor(
                seed,
                new global::Virtsim.Fuzz.Coverage.NullCoverage("test"),
                ExecutionLimits.Default
            );
            GlueVerdict verdict = new ExecutorGlueTarget(executor).Run(input);
            bool fires = FuzzReplay.Run(seed, input).Fired;
            Assert.Equal(fires ? GlueVerdict.SignalAbort : 0, verdict.WaitStatus);
            if (fires)
                fired++;
            var robustExecutor = new FuzzExecutor(
                robust,
                new global::Virtsim.Fuzz.Coverage.NullCoverage("test"),
                ExecutionLimits.Default
            );
            Assert.Equal(0, new ExecutorGlueTarget(robustExecutor).Run(input).WaitStatus);
        }
        output.WriteLine($"{fired} seed inputs fire on {seed.Name}");
        Assert.True(fired > 0, "the seed corpus carries the flaw's regression inputs");
    }

    [Fact]
    public async Task Afl_ThroughFuzzHost_InstrumentedEdgesReachTheSharedMap()
    {
        const int ControlFd = AflForkServer.ControlFd;
        const int StatusFd = AflForkServer.StatusFd;
        var control = new int[2];
        var status = new int[2];
        Assert.Equal(0, Pipe(control));
        Assert.Equal(0, Pipe(status));
        MoveAbove(control);
        MoveAbove(status);
        SavedFd savedControl = SavedFd.Take(ControlFd);
        SavedFd savedStatus = SavedFd.Take(StatusFd);
        Assert.True(Dup2(control[0], ControlFd) == ControlFd && Dup2(status[1], StatusFd) == StatusFd);
        Close(control[0]);
        Close(status[1]);
        using SharedMemoryMap map = SharedMemoryMap.Create(AflForkServer.DefaultMapSize);
        using var toServer = new FileStream(new SafeFileHandle(control[1], ownsHandle: true), FileAccess.Write, 0);
        using var fromServer = new FileStream(new SafeFileHandle(status[0], ownsHandle: true), FileAccess.Read, 0);
        string input = Path.Combine(_dir, "cur");
        Environment.SetEnvironmentVariable(
            AflForkServer.ShmIdVariable,
            map.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)
        );
        var err = new StringWriter();
        Task<int> host;
        try
        {
            host = StartAflHost(input, err);
            int ReadWord() => ReadLittleEndianWord(fromServer);
            Assert.Equal(0, ReadWord());
            IFuzzTarget target = FuzzTargets.Create("guest-memory")!;
            var shared = new byte[map.Size];
            int runs = 0;
            foreach (byte[] seed in target.SeedCorpus().Take(3))
            {
                File.WriteAllBytes(input, seed);
                map.Clear();
                toServer.Write([0, 0, 0, 0]);
                Assert.Equal(Environment.ProcessId, ReadWord());
                Assert.Equal(0, ReadWord());
                map.Read(shared);
                int edges = shared.Count(b => b != 0);
                output.WriteLine($"run {++runs}: {seed.Length} bytes -> {edges} edges in the shared map");
                Assert.True(edges > 10, $"edges={edges}");
            }
            toServer.Dispose();
            Assert.Equal(0, await host.WaitAsync(TimeSpan.FromMinutes(2)));
        }
        finally
        {
            Environment.SetEnvironmentVariable(AflForkServer.ShmIdVariable, null);
            savedControl.Restore();
            savedStatus.Restore();
            output.WriteLine(err.ToString());
        }
        Assert.Contains("afl: 3 runs, 0 crashes", err.ToString(), StringComparison.Ordinal);
        Assert.Contains("coverage: edges", err.ToString(), StringComparison.Ordinal);
    }

    /// <summary><c>fuzz --target guest-memory --afl</c> through the instrumented host, on a task: it serves the
    /// fork-server protocol on the descriptors the test set up.</summary>
    private Task<int> StartAflHost(string input, StringWriter err) =>
        Task.Run(() =>
            FuzzHost.Run(
                [
                    "--target",
                    "guest-memory",
                    "--afl",
                    "--afl-input",
                    input,
                    "--instrument-cache",
                    Path.Combine(_dir, "cache"),
                ],
                TextWriter.Null,
                err
            )
        );

    private static int ReadLittleEndianWord(FileStream fromServer)
    {
        var word = new byte[4];
        fromServer.ReadExactly(word);
        return BinaryPrimitives.ReadInt32LittleEndian(word);
    }

    [Fact]
    public void LibFuzzer_SegmentWithoutPipes_OrBadOnes_ExplainsAndExits2()
    {
        using var driver = new FakeLibFuzzerDriver();
        Environment.SetEnvironmentVariable(LibFuzzerRunner.StatusPipeVariable, null);
        var e = new StringWriter();
        Assert.Equal(2, FuzzEntry.Run(["libfuzzer", "--target", "split-virtqueue"], TextWriter.Null, e));
        const StringComparison Ordinal = StringComparison.Ordinal;
        Assert.Contains("__LIBFUZZER_STATUS_PIPE_ID must hold the driver's pipe", e.ToString(), Ordinal);
        // A number that names no open pipe: SharpFuzz's runner throws opening it, before serving anything.
        Environment.SetEnvironmentVariable(LibFuzzerRunner.StatusPipeVariable, "1000000");
        Assert.Equal(2, FuzzEntry.Run(["libfuzzer", "--target", "split-virtqueue"], TextWriter.Null, e));
        Assert.Contains("cannot open the driver's pipes", e.ToString(), Ordinal);
        Environment.SetEnvironmentVariable(LibFuzzerRunner.ShmIdVariable, "999999999");
        Assert.Equal(2, FuzzEntry.Run(["libfuzzer", "--target", "split-virtqueue"], TextWriter.Null, e));
        Assert.Contains("cannot attach the coverage map (__LIBFUZZER_SHM_ID=999999999)", e.ToString(), Ordinal);
        output.WriteLine(e.ToString());
    }

    [Fact]
    public async Task LibFuzzer_ThroughFuzzHost_InstrumentedEdgesReachTheSegment()
    {
        using var driver = new FakeLibFuzzerDriver();
        var err = new StringWriter();
        string[] args = ["libfuzzer", "--target", "guest-memory", "--instrument-cache", Path.Combine(_dir, "cache")];
        Task<int> host = Task.Run(() => FuzzHost.Run(args, TextWriter.Null, err));
        try
        {
            Assert.Equal(0, driver.ReadStatus());
            IFuzzTarget target = FuzzTargets.Create("guest-memory")!;
            int runs = 0;
            foreach (byte[] seed in target.SeedCorpus().Take(3))
            {
                Assert.Equal(0, driver.Run(seed));
                int edges = driver.Map().Count(b => b != 0);
                output.WriteLine($"run {++runs}: {seed.Length} bytes -> {edges} edges in the segment");
                Assert.True(edges > 10, $"edges={edges}");
            }
            driver.HangUp();
            Assert.Equal(0, await host.WaitAsync(TimeSpan.FromMinutes(2)));
        }
        finally
        {
            output.WriteLine(err.ToString());
        }
        Assert.Contains("libfuzzer: 3 runs, 0 crashes", err.ToString(), StringComparison.Ordinal);
        Assert.Contains("coverage: edges", err.ToString(), StringComparison.Ordinal);
        Assert.Contains("into the libFuzzer runner's map", err.ToString(), StringComparison.Ordinal);
    }
}
