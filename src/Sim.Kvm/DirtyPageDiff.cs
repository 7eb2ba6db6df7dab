using Sim.Engine.Memory;
using Sim.Scenarios.Recording;

namespace Sim.Kvm;

/// <summary>
/// Brings the device's <see cref="GuestMemory"/> up to date with the real guest RAM (docs/recording.md §3): for
/// each page the dirty log names, the real page is copied once (the guest may be writing it meanwhile), compared
/// with the machine's copy, and every changed run of bytes becomes one guest store (a GuestWrite event). The log
/// may name pages the guest only read (kvm_amd): those compare equal and cost nothing. Runs closer than
/// <see cref="MergeGapBytes"/> become one store.
/// </summary>
public sealed class DirtyPageDiff
{
    /// <summary>Equal bytes between two changed runs below which they are stored as one (fewer events).</summary>
    public const int MergeGapBytes = 8;

    private readonly byte[] _page = new byte[GuestMemory.PageSize];

    /// <summary>Pages compared and bytes stored so far.</summary>
    public long PagesCompared { get; private set; }

    /// <summary>GuestWrite events emitted so far.</summary>
    public long StoresEmitted { get; private set; }

    /// <summary>Compares the pages set in <paramref name="bitmap"/> (bit i = page i from GPA 0); reads each real page
    /// with <paramref name="readRealPage"/> (page index, destination). Returns the number of stores.</summary>
    public int Apply(ReadOnlySpan<ulong> bitmap, ExternalMachine machine, ReadRealPage readRealPage)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(readRealPage);
        GuestMemory memory = machine.Simulation.Memory;
        int stores = 0;
        for (int w = 0; w < bitmap.Length; w++)
        {
            ulong word = bitmap[w];
            while (word != 0)
            {
                int bit = System.Numerics.BitOperations.TrailingZeroCount(word);
                word &= word - 1;
                ulong page = checked(((ulong)w * 64) + (ulong)bit);
                ulong gpa = page * GuestMemory.PageSize;
                if (!memory.TryGetSpan(new GuestAddress(gpa), GuestMemory.PageSize, out Span<byte> known))
                    continue;
                readRealPage(page, _page);
                PagesCompared++;
                stores += DiffPage(gpa, known, _page, machine);
            }
        }
        StoresEmitted += stores;
        return stores;
    }

    /// <summary>Stores every changed run of <paramref name="real"/> against <paramref name="known"/> (the machine's
    /// bytes of the page at <paramref name="gpa"/>).</summary>
    public static int DiffPage(ulong gpa, ReadOnlySpan<byte> known, ReadOnlySpan<byte> real, ExternalMachine machine)
    {
        ArgumentNullException.ThrowIfNull(machine);
        int stores = 0;
        int i = 0;
        int n = Math.Min(known.Length, real.Length);
        while (i < n)
        {
            int same = known[i..n].CommonPrefixLength(real[i..n]);
            i += same;
            if (i >= n)
                break;
            int start = i;
            int end = i + 1; // exclusive end of the run
            int j = end;
            while (j < n)
            {
                if (known[j] != real[j])
                {
                    end = j + 1;
                    j++;
                }
                else if (j - end >= MergeGapBytes)
                {
                    break;
                }
                else
                {
                    j++;
                }
            }
            // The store changes the machine's copy (known) to the real bytes.
            machine.Store(gpa + (ulong)start, real[start..end].ToArray());
            stores++;
            i = end;
        }
        return stores;
    }
}

/// <summary>Copies real guest page <paramref name="page"/> into <paramref name="destination"/> (4096 bytes).</summary>
public delegate void ReadRealPage(ulong page, Span<byte> destination);
