namespace Fuzz.Coverage;

/// <summary>
/// Decides whether an execution's map shows something new, AFL-style: hit counts are bucketed
/// (1, 2, 3, 4–7, 8–15, 16–31, 32–127, 128+) and a "virgin" map remembers which buckets each edge has shown.
/// An input is interesting when it shows a new bucket for any edge. Scans skip zero runs with a vectorised
/// search, so a sparse 64 KiB map costs little per execution; no allocation.
/// </summary>
public sealed class CoverageTracker
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
        int limit = Math.Min(map.Length, virgin.Length);
        int i = 0;
        while (i < limit)
        {
            int next = map[i..limit].IndexOfAnyExcept((byte)0);
            if (next < 0) break;
            i += next;
            byte bucket = BucketOf[map[i]];
            byte v = virgin[i];
            if ((bucket & v) != 0)
            {
                if (v == 0xFF) Edges++;
                virgin[i] = (byte)(v & ~bucket);
                novel = true;
            }
            i++;
        }
        return novel;
    }

    /// <summary>True when <paramref name="map"/> would be novel, without recording it.</summary>
    public bool WouldBeNovel(ReadOnlySpan<byte> map)
    {
        int limit = Math.Min(map.Length, _virgin.Length);
        int i = 0;
        while (i < limit)
        {
            int next = map[i..limit].IndexOfAnyExcept((byte)0);
            if (next < 0) return false;
            i += next;
            if ((BucketOf[map[i]] & _virgin[i]) != 0) return true;
            i++;
        }
        return false;
    }

    /// <summary>Number of non-zero entries in a map (edges hit by one execution).</summary>
    public static int CountEdges(ReadOnlySpan<byte> map)
    {
        int n = 0;
        int i = 0;
        while (i < map.Length)
        {
            int next = map[i..].IndexOfAnyExcept((byte)0);
            if (next < 0) break;
            n++;
            i += next + 1;
        }
        return n;
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
