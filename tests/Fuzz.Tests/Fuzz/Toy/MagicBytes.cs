namespace Fuzz.Tests.Toy;

/// <summary>Toy code under test for the instrumenter and the engine: a hidden bug behind a 4-byte compare
/// chain that blind mutation essentially never guesses, but that edge coverage climbs one byte at a time.
/// Tests instrument only this namespace of a copy of the test assembly.</summary>
public static class MagicBytes
{
    public static int Check(ReadOnlySpan<byte> data)
    {
        if (data.Length < 4) return 0;
        if (data[0] == (byte)'F')
        {
            if (data[1] == (byte)'U')
            {
                if (data[2] == (byte)'Z')
                {
                    if (data[3] == (byte)'!') throw new InvalidOperationException("magic bytes reached");
                    return 3;
                }
                return 2;
            }
            return 1;
        }
        return 0;
    }

    /// <summary>Two clearly different paths, for the edge-map test.</summary>
    public static int Classify(int x)
    {
        int sum = 0;
        if (x > 100)
        {
            for (int i = 0; i < 3; i++) sum += i * x;
        }
        else
        {
            sum = x switch
            {
                0 => 7,
                1 => 11,
                _ => -x,
            };
        }
        try
        {
            if (x == 5) throw new ArgumentException("five");
        }
        catch (ArgumentException)
        {
            sum += 1000;
        }
        finally
        {
            sum++;
        }
        return sum;
    }
}
