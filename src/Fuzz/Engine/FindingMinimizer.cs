using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Engine;

/// <summary>
/// Shrinks an input while a predicate (the same oracle and site still fire) holds: the target's typed
/// candidates first (<see cref="IInputMinimizer"/>: drop operations, simplify fields and header), then delta
/// debugging on bytes (remove chunks of halving size, ddmin-style), then value simplification (bytes to zero).
/// Repeats until a whole round changes nothing or the execution budget is spent. Every kept candidate is strictly
/// simpler in the typed minimiser's order (<see cref="IInputMinimizer.IsSimpler"/>; shorter, then lexicographic,
/// without one), so it terminates. Deterministic: no randomness. A target whose firing runs are costly bounds how many
/// candidates may fire (<see cref="IFuzzTarget.MinimizeFiringRunsMax"/>: a real-QEMU hang waits out its answer bound
/// and restarts QEMU on every run that reproduces it), so that minimising such a finding cannot stall a campaign.
/// </summary>
internal static class FindingMinimizer
{
    /// <summary>Default execution budget for one minimisation.</summary>
    public const int DefaultExecutionsMax = 20_000;

    /// <summary>Shrinks <paramref name="input"/> while <paramref name="stillFires"/> holds, within
    /// <paramref name="executionsMax"/> runs of which at most <paramref name="firingMax"/> (null: no bound of their
    /// own) may fire; <paramref name="executions"/> is the number of runs spent.</summary>
    public static byte[] Minimize(
        byte[] input,
        Func<byte[], bool> stillFires,
        IInputMinimizer? typed,
        int executionsMax,
        out int executions,
        int? firingMax = null
    )
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(stillFires);
        var run = new Run(
            stillFires,
            executionsMax,
            firingMax ?? int.MaxValue,
            typed is null ? IsSimpler : typed.IsSimpler
        );
        byte[] current = input;
        bool changed = true;
        while (changed && !run.Exhausted)
        {
            changed = false;
            if (typed is not null)
                changed |= TypedPass(ref current, typed, run);
            changed |= ChunkPass(ref current, run);
            changed |= ZeroPass(ref current, run);
        }
        executions = run.Executions;
        return current;
    }

    /// <summary>True when <paramref name="a"/> is strictly simpler: shorter, or as long and lexicographically
    /// smaller.</summary>
    public static bool IsSimpler(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) =>
        a.Length < b.Length || (a.Length == b.Length && a.SequenceCompareTo(b) < 0);

    /// <summary>Tries the typed candidates in order. After a kept candidate it resumes at the same position in the new
    /// input's list (ddmin's "stay at this granularity": earlier candidates already failed once); when the tail yields
    /// nothing, one full round from the top confirms the fixpoint.</summary>
    private static bool TypedPass(ref byte[] current, IInputMinimizer typed, Run run)
    {
        bool any = false;
        int start = 0;
        while (!run.Exhausted)
        {
            int index = 0;
            int kept = -1;
            foreach (byte[] candidate in typed.Candidates(current))
            {
                if (run.Exhausted)
                    break;
                if (index++ < start)
                    continue;
                if (!typed.IsSimpler(candidate, current))
                    continue;
                if (run.Fires(candidate))
                {
                    current = candidate;
                    kept = index - 1;
                    break;
                }
            }
            if (kept >= 0)
            {
                any = true;
                start = kept;
                continue;
            }
            if (start == 0)
                break;
            start = 0;
        }
        return any;
    }

    private static bool ChunkPass(ref byte[] current, Run run)
    {
        bool any = false;
        for (int chunk = Math.Max(1, current.Length / 2); chunk >= 1 && !run.Exhausted; chunk /= 2)
        {
            int at = 0;
            while (at < current.Length && !run.Exhausted)
            {
                int n = Math.Min(chunk, current.Length - at);
                byte[] candidate = new byte[current.Length - n];
                current.AsSpan(0, at).CopyTo(candidate);
                current.AsSpan(at + n).CopyTo(candidate.AsSpan(at));
                if (run.IsSimpler(candidate, current) && run.Fires(candidate))
                {
                    current = candidate;
                    any = true;
                }
                else
                {
                    at += n;
                }
            }
        }
        return any;
    }

    private static bool ZeroPass(ref byte[] current, Run run)
    {
        bool any = false;
        for (int i = 0; i < current.Length && !run.Exhausted; i++)
        {
            if (current[i] == 0)
                continue;
            byte[] candidate = (byte[])current.Clone();
            candidate[i] = 0;
            if (run.IsSimpler(candidate, current) && run.Fires(candidate))
            {
                current = candidate;
                any = true;
            }
        }
        return any;
    }

    private delegate bool Order(ReadOnlySpan<byte> candidate, ReadOnlySpan<byte> current);

    private sealed class Run(Func<byte[], bool> stillFires, int executionsMax, int firingMax, Order isSimpler)
    {
        public bool IsSimpler(byte[] candidate, byte[] current) => isSimpler(candidate, current);

        public int Executions { get; private set; }

        /// <summary>Runs that fired (the costly ones for a hang: each waits out the answer bound).</summary>
        public int Fired { get; private set; }

        public bool Exhausted => Executions >= executionsMax || Fired >= firingMax;

        public bool Fires(byte[] candidate)
        {
            Executions++;
            if (!stillFires(candidate))
                return false;
            Fired++;
            return true;
        }
    }
}
