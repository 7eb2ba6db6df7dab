using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Virtsim.Fuzz.Glue;

namespace Fuzz.Tests.Glue;

/// <summary>
/// What tools/libfuzzer-driver/driver.c does, in this process: creates the segment (map, then input) and two
/// pipes, names them in libfuzzer-dotnet's environment variables, and per input clears the map, copies the input
/// after it and sends its length. The runner's ends of the pipes are handed over by fd number: SharpFuzz's runner
/// owns and closes them, so they are raw fds here, never wrapped on this side. Sets process-wide environment
/// variables: use only in the non-parallel coverage-map collection.
/// </summary>
internal sealed class FakeLibFuzzerDriver : IDisposable
{
    private readonly FileStream _control;
    private readonly FileStream _status;

#pragma warning disable SYSLIB1054 // test-only P/Invoke with blittable arguments
    [DllImport("libc", EntryPoint = "pipe", SetLastError = true)]
    private static extern int Pipe([Out] int[] fds);
#pragma warning restore SYSLIB1054

    public FakeLibFuzzerDriver()
    {
        Segment = SharedMemoryMap.Create(LibFuzzerRunner.MapSize + LibFuzzerRunner.InputBytesMax);
        var control = new int[2];
        var status = new int[2];
        Assert.Equal(0, Pipe(control));
        Assert.Equal(0, Pipe(status));
        _control = new FileStream(new SafeFileHandle(control[1], ownsHandle: true), FileAccess.Write, 0);
        _status = new FileStream(new SafeFileHandle(status[0], ownsHandle: true), FileAccess.Read, 0);
        Set(LibFuzzerRunner.ShmIdVariable, Segment.Id);
        Set(LibFuzzerRunner.ControlPipeVariable, control[0]);
        Set(LibFuzzerRunner.StatusPipeVariable, status[1]);
    }

    public SharedMemoryMap Segment { get; }

    private static void Set(string variable, int value) =>
        Environment.SetEnvironmentVariable(variable, value.ToString(CultureInfo.InvariantCulture));

    /// <summary>One status word (the hello, or a run's answer).</summary>
    public int ReadStatus()
    {
        var word = new byte[4];
        _status.ReadExactly(word);
        return BinaryPrimitives.ReadInt32LittleEndian(word);
    }

    /// <summary>Clears the map, puts <paramref name="input"/> after it and sends its length; returns the
    /// status.</summary>
    public int Run(byte[] input)
    {
        Segment.Write(new byte[LibFuzzerRunner.MapSize]);
        Segment.Write(LibFuzzerRunner.MapSize, input);
        var word = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(word, input.Length);
        _control.Write(word);
        _control.Flush();
        return ReadStatus();
    }

    /// <summary>The map the last run left in the segment.</summary>
    public byte[] Map()
    {
        var map = new byte[LibFuzzerRunner.MapSize];
        Segment.Read(map);
        return map;
    }

    /// <summary>Closes the control pipe: libFuzzer exiting.</summary>
    public void HangUp() => _control.Dispose();

    public void Dispose()
    {
        Environment.SetEnvironmentVariable(LibFuzzerRunner.ShmIdVariable, null);
        Environment.SetEnvironmentVariable(LibFuzzerRunner.ControlPipeVariable, null);
        Environment.SetEnvironmentVariable(LibFuzzerRunner.StatusPipeVariable, null);
        _control.Dispose();
        _status.Dispose();
        Segment.Dispose();
    }
}
