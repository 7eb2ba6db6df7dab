namespace Sim.Devices;

/// <summary>
/// What a seed device prints on QEMU's stdout or qemu_log, kept in order and bounded
/// (<see cref="LinesMax"/>; later lines are only counted). Deterministic: lines are a function of
/// the guest's requests. Never written to the console; scenarios may append it to their report.
/// </summary>
public sealed class DeviceLog
{
    /// <summary>Most lines kept.</summary>
    public const int LinesMax = 10_000;

    private readonly List<string> _lines = new();

    /// <summary>True to record lines (off: lines are counted only, no strings built by callers that check
    /// it).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The lines logged, oldest first.</summary>
    public IReadOnlyList<string> Lines => _lines;

    /// <summary>Lines not kept (log full or disabled).</summary>
    public long Dropped { get; private set; }

    /// <summary>Logs <paramref name="line"/> (dropped, and counted, past the cap).</summary>
    public void Add(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        if (!Enabled || _lines.Count >= LinesMax)
        {
            Dropped++;
            return;
        }
        _lines.Add(line);
    }

    /// <summary>Forgets every line (a device reset).</summary>
    public void Clear()
    {
        _lines.Clear();
        Dropped = 0;
    }
}
