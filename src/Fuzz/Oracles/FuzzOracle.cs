namespace Virtsim.Fuzz.Oracles;

/// <summary>Names of the engine's built-in oracles. Targets may report their own (checker names such as
/// <c>used-ring</c>); every name is reduced to <c>[a-z0-9-]</c> because it names a findings directory.</summary>
internal static class FuzzOracle
{
    /// <summary>A host exception escaped the target (a host bug: guest input must never cause one).</summary>
    public const string Exception = "exception";

    /// <summary>An always-on assertion failed (STYLE.md item 11): an exception whose type name says assertion
    /// or invariant.</summary>
    public const string Assert = "assert";

    /// <summary>The execution exceeded its step budget (livelock, unbounded loop over guest data).</summary>
    public const string Hang = "hang";

    /// <summary>The execution allocated more host memory than its bound (an allocation sized by a guest
    /// value).</summary>
    public const string Resource = "resource";

    /// <summary>Lower-case, <c>[a-z0-9-]</c> only, at most 40 characters; "oracle" if nothing is left.</summary>
    public static string Sanitize(string name)
    {
        Span<char> buffer = stackalloc char[40];
        int n = 0;
        foreach (char c in name)
        {
            if (n == buffer.Length)
                break;
            char l = char.ToLowerInvariant(c);
            if (l is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')
                buffer[n++] = l;
            else if (n > 0 && buffer[n - 1] != '-')
                buffer[n++] = '-';
        }
        while (n > 0 && buffer[n - 1] == '-')
            n--;
        return n == 0 ? "oracle" : new string(buffer[..n]);
    }
}
