namespace Sim.Engine.Memory;

/// <summary>
/// How a guest-memory content hash is computed (traces/README.md §2 and §4). A trace's format version names its
/// scheme: version 1 traces carry <see cref="Linear"/> hashes, version 2 and later <see cref="PageWise"/> ones; a
/// replay hashes its live memory with the scheme of the trace it compares against.
/// </summary>
public enum MemoryHashScheme
{
    /// <summary>Page-wise (format 2): a <see cref="PageHash.OfPage"/> per page, combined by exclusive-or, folded
    /// with the layout (<see cref="PageHash.Combine"/>). A checkpoint rehashes only the pages written since the
    /// previous one.</summary>
    PageWise = 0,

    /// <summary>Linear (format 1): one <see cref="StableHash64"/> chain over each region's base, size and every
    /// byte. Each hash is a pass over the whole memory.</summary>
    Linear = 1,
}
