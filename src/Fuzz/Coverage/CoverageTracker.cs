using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Virtsim.Fuzz.Coverage;

/// <summary>
/// Decides whether an execution's map shows something new, AFL-style: hit counts are bucketed
/// (1, 2, 3, 4–7, 8–15, 16–31, 32–127, 128+) and a "virgin" map remembers which buckets each edge has shown.
/// An input is interesting when it shows a new bucket for any edge. Scans test 32 bytes at a time and skip
/// zero blocks, so a sparse 64 KiB map costs little per execution; no allocation.
/// </summary>
internal sealed class CoverageTracker
{
    private static readonly byte[] BucketOf = BuildBuckets();
    private readonly byte[] _virgin;

    public CoverageTracker(int mapSize = CoverageMap.Size)
    {
        _virgin = new byte[mapSize];
        Array.Fill(_virgin, (byte)0xFF);
    }

    /// <summary>Distinct edges seen so far.</summary>
    public int Edges { get; private set; }

    /// <summary>True when <paramref name="map"/> shows a new edge or hit-count bucket; records it.</summary>
    public bool Merge(ReadOnlySpan<byte> map)
    {
        bool novel = false;
        byte[] virgin = _virgin;
        var hits = new NonZeroBytes(map[..Math.Min(map.Length, virgin.Length)]);
        while (hits.MoveNext(out int i))
        {
            byte bucket = BucketOf[map[i]];
            byte v = virgin[i];
            if ((bucket & v) != 0)
            {
                if (v == 0xFF)
                    Edges++;
                virgin[i] = (byte)(v & ~bucket);
                novel = true;
            }
        }
        return novel;
    }

    /// <summary>True when <paramref name="map"/> would be novel, without recording it.</summary>
    public bool WouldBeNovel(ReadOnlySpan<byte> map)
    {
        byte[] virgin = _virgin;
        var hits = new NonZeroBytes(map[..Math.Min(map.Length, virgin.Length)]);
        while (hits.MoveNext(out int i))
        {
            if ((BucketOf[map[i]] & virgin[i]) != 0)
                return true;
        }
        return false;
    }

    /// <summary>Number of non-zero entries in a map (edges hit by one execution).</summary>
    public static int CountEdges(ReadOnlySpan<byte> map)
    {
        int n = 0;
        var hits = new NonZeroBytes(map);
        while (hits.MoveNext(out _))
            n++;
        return n;
    }

    /// <summary>
    /// The indices of a map's non-zero bytes, ascending. Tests 32 bytes at a time and walks the non-zero ones of a
    /// block through a bit mask: one pass over the map, instead of a search call per hit (a run touches hundreds of
    /// edges, and a call per edge cost more than the scan).
    /// </summary>
    private ref struct NonZeroBytes
    {
        private readonly ReadOnlySpan<byte> _map;
        private int _block; // start of the block _mask describes
        private int _next; // start of the next block to load
        private uint _mask; // non-zero bytes of the current block not yet returned

        public NonZeroBytes(ReadOnlySpan<byte> map)
        {
            _map = map;
        }

        public bool MoveNext(out int index)
        {
            while (_mask == 0)
            {
                if (!LoadNext())
                {
                    index = -1;
                    return false;
                }
            }
            index = _block + System.Numerics.BitOperations.TrailingZeroCount(_mask);
            _mask &= _mask - 1;
            return true;
        }

        /// <summary>Loads the next block with a non-zero byte into the mask; false at the end of the map.</summary>
        private bool LoadNext()
        {
            ReadOnlySpan<byte> map = _map;
            int i = _next;
            if (Vector256.IsHardwareAccelerated)
            {
                ref byte start = ref MemoryMarshal.GetReference(map);
                for (; i <= map.Length - Vector256<byte>.Count; i += Vector256<byte>.Count)
                {
                    Vector256<byte> v = Vector256.LoadUnsafe(ref start, (nuint)i);
                    if (v == Vector256<byte>.Zero)
                        continue;
                    _block = i;
                    _next = i + Vector256<byte>.Count;
                    _mask = ~Vector256.Equals(v, Vector256<byte>.Zero).ExtractMostSignificantBits();
                    return true;
                }
            }
            // The tail (or everything without vector hardware), one block of up to 32 bytes at a time.
            for (; i < map.Length; i += 32)
            {
                int end = Math.Min(map.Length, i + 32);
                uint mask = 0;
                for (int j = i; j < end; j++)
                {
                    if (map[j] != 0)
                        mask |= 1u << (j - i);
                }
                if (mask == 0)
                    continue;
                _block = i;
                _next = i + 32;
                _mask = mask;
                return true;
            }
            _next = map.Length;
            return false;
        }
    }

    private static byte[] BuildBuckets()
    {
        var b = new byte[256];
        for (int c = 0; c < 256; c++)
        {
            b[c] = c switch
            {
                0 => 0,
                1 => 1,
                2 => 2,
                3 => 4,
                <= 7 => 8,
                <= 15 => 16,
                <= 31 => 32,
                <= 127 => 64,
                _ => 128,
            };
        }
        return b;
    }
}
