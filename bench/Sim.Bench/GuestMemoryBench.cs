using BenchmarkDotNet.Attributes;
using Sim.Engine.Memory;

namespace Sim.Bench;

/// <summary>Guest-memory accessor throughput: little-endian 32-bit reads and writes across a 1 MiB
/// window (in the last-used region: the common case), 64-byte block copies, and the two-region
/// slow path.</summary>
[MemoryDiagnoser]
public class GuestMemoryBench
{
    private const int Ops = 1 << 16;
    private const ulong Window = 1 << 20;

    private GuestMemory _memory = null!;
    private GuestMemory _twoRegions = null!;
    private readonly byte[] _block = new byte[64];

    [GlobalSetup]
    public void Setup()
    {
        _memory = GuestMemory.CreateFlat(4UL << 20);
        GuestMemory.TryCreate(
            new MemoryLayout([new RegionSpec(0, Window), new RegionSpec(0x1000_0000, Window)]),
            out GuestMemory? two,
            out _
        );
        _twoRegions = two!;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public uint ReadUInt32()
    {
        uint sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            _memory.TryReadUInt32(new GuestAddress(((ulong)i * 20) % Window), out uint v);
            sum += v;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public void WriteUInt32()
    {
        for (int i = 0; i < Ops; i++)
            _memory.TryWriteUInt32(new GuestAddress(((ulong)i * 20) % Window), (uint)i);
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public void Read64Bytes()
    {
        for (int i = 0; i < Ops; i++)
            _memory.TryRead(new GuestAddress(((ulong)i * 64) % Window), _block);
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public void Write64Bytes()
    {
        for (int i = 0; i < Ops; i++)
            _memory.TryWrite(new GuestAddress(((ulong)i * 64) % Window), _block);
    }

    /// <summary>Alternates between two regions: every access misses the last-region cache.</summary>
    [Benchmark(OperationsPerInvoke = Ops)]
    public uint ReadUInt32AlternatingRegions()
    {
        uint sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            ulong a = (((ulong)i * 20) % Window) + ((i & 1) == 0 ? 0UL : 0x1000_0000UL);
            _twoRegions.TryReadUInt32(new GuestAddress(a), out uint v);
            sum += v;
        }
        return sum;
    }
}
