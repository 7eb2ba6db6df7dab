namespace Fuzz.Targets;

/// <summary>
/// The registry of fuzz targets, by name. To add one: implement <see cref="IFuzzTarget"/> in
/// <c>src/Fuzz/Targets/</c> and add its constructor to <see cref="Factories"/>. Each call creates fresh target
/// instances (targets hold reusable per-execution state).
/// </summary>
public static class FuzzTargets
{
    private static readonly Func<IFuzzTarget>[] Factories =
    [
        () => new GuestMemoryTarget(),
        () => new SplitVirtqueueTarget(),
    ];

    /// <summary>Fresh instances of every target, ordered by name.</summary>
    public static IReadOnlyList<IFuzzTarget> All => Factories.Select(f => f()).OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();

    /// <summary>A fresh instance of the target called <paramref name="name"/>, or null.</summary>
    public static IFuzzTarget? Create(string name)
    {
        foreach (Func<IFuzzTarget> factory in Factories)
        {
            IFuzzTarget t = factory();
            if (string.Equals(t.Name, name, StringComparison.Ordinal)) return t;
        }
        return null;
    }

    /// <summary>One line per target: name, then description (what <c>virtsim fuzz --list</c> prints).</summary>
    public static IEnumerable<string> ListLines() => All.Select(t => $"{t.Name}  {t.Description}");
}
