using BenchmarkDotNet.Attributes;
using Sim.Engine.Memory;
using Sim.Engine.Random;
using Sim.Engine.Trace;

namespace Sim.Bench;

/// <summary>
/// Trace write and read throughput over a typical event mix (MMIO/PIO with 1-8 data bytes,
/// signals without data, device reads/writes of 16-64 bytes). Each benchmark handles
/// <see cref="Events"/> events, so the reported time is per event (events/s = 1e9 / ns);
/// MB/s = <see cref="BytesPerEvent"/> / ns * 1000 (printed at setup). Target: reading at least
/// 2M events/s with no allocation per event.
/// <c>dotnet run -c Release --project bench/Sim.Bench -- --filter '*TraceBench*' --job short</c>
/// </summary>
[MemoryDiagnoser]
public class TraceBench
{
    public const int Events = 200_000;

    private TraceRecord[] _events = [];
    private byte[] _trace = [];
    private MemoryStream _sink = new();
    private TraceHeader _header = null!;
    private GuestMemory _memory = null!;

    public double BytesPerEvent { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        var prng = new Prng(1);
        _events = new TraceRecord[Events];
        long time = 0;
        for (int i = 0; i < Events; i++)
        {
            time += 50 + (long)prng.UInt64LessThan(2000);
            int mix = (int)prng.UInt64LessThan(10);
            TraceEventKind kind = mix switch
            {
                < 3 => TraceEventKind.MmioWrite,
                < 5 => TraceEventKind.EventFdSignal,
                < 7 => TraceEventKind.DeviceRead,
                < 9 => TraceEventKind.DeviceWrite,
                _ => TraceEventKind.IrqInject,
            };
            int length = kind switch
            {
                TraceEventKind.MmioWrite => 4,
                TraceEventKind.DeviceRead or TraceEventKind.DeviceWrite => 16 << (int)prng.UInt64LessThan(3),
                _ => 0,
            };
            byte[] data = new byte[length];
            for (int k = 0; k < data.Length; k++)
                data[k] = prng.NextByte();
            _events[i] = new TraceRecord(
                kind,
                time,
                (uint)prng.UInt64LessThan(4),
                0x1000_0000 + (prng.UInt64LessThan(1 << 20) * 16),
                prng.UInt64LessThan(1 << 16),
                data
            );
        }
        _memory = GuestMemory.CreateFlat(1 << 20);
        _header = new TraceHeader
        {
            VirtsimVersion = "bench",
            GitCommit = "bench",
            Scenario = "bench",
            MemoryLayout = _memory.Layout,
        };
        _sink = new MemoryStream(64 << 20);
        Write();
        _trace = _sink.ToArray();
        BytesPerEvent = (double)_trace.Length / Events;
        Console.WriteLine($"// trace: {_trace.Length} bytes, {BytesPerEvent:F1} bytes/event");
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public long Write()
    {
        _sink.Position = 0;
        using var writer = new TraceWriter(_sink, _header, _memory, leaveOpen: true);
        foreach (TraceRecord e in _events)
            writer.Write(e.ToEvent());
        writer.Complete(0, _events[^1].Time);
        return writer.BytesWritten;
    }

    [Benchmark(OperationsPerInvoke = Events)]
    public ulong Read()
    {
        if (
            !TraceReader.TryOpen(
                new MemoryStream(_trace, writable: false),
                out TraceReader? reader,
                out TraceError? error
            )
        )
            throw new InvalidOperationException(error.Message);
        ulong sum = 0;
        while (reader.TryReadNext(out TraceEvent ev, out _))
            sum += ev.Value + (ulong)ev.Data.Length;
        if (!reader.IsComplete)
            throw new InvalidOperationException("trace did not complete");
        return sum;
    }
}
