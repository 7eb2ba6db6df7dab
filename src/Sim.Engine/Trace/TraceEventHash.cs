using Sim.Engine.Memory;

namespace Sim.Engine.Trace;

/// <summary>
/// Running hash of an event stream: every field of every event, in order, through
/// <see cref="StableHash64"/> (the same in every process). Checkpoint events carry its
/// <see cref="Value"/> so replay can localise a divergence; the footer carries the final one.
/// A mutable struct: keep it in a field, do not copy it.
/// </summary>
public struct TraceEventHash
{
    private StableHash64 _hash;

    /// <summary>The hash of no events.</summary>
    public TraceEventHash() => _hash = new StableHash64();

    /// <summary>Hash of the events added so far.</summary>
    public readonly ulong Value => _hash.Finish();

    /// <summary>Adds every field of <paramref name="ev"/>.</summary>
    public void Add(in TraceEvent ev)
    {
        _hash.AddUInt64((ulong)ev.Kind);
        _hash.AddUInt64(Narrow.AsUInt64Bits(ev.Time));
        _hash.AddUInt64(ev.Source);
        _hash.AddUInt64(ev.Address);
        _hash.AddUInt64(ev.Value);
        _hash.AddUInt64(Narrow.AsUInt64Bits(ev.Data.Length));
        _hash.Add(ev.Data);
    }
}
