using Sim.Devices;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The robust virtio-net device's log judged line by line (<c>response/net-log</c>), shared by the receive and transmit
/// oracles so that both read one cursor: the device logs one line per frame just before it completes the frame's chain
/// (<c>tx: N bytes HEX</c>, <c>rx: N bytes into head H, used.len L</c>, <c>rx: frame of N bytes dropped: head H holds
/// W</c>) and QEMU's virtio_error text when it breaks, so at each judged event the newest line since the last one must
/// be the expected line. Lines the oracles did not judge (a chain that is not plain, a queue the checker does not
/// watch) only move the cursor. Not judged once the bounded log dropped a line or while it is off.
/// </summary>
internal sealed class NetLogJudge
{
    /// <summary>Site of a missing or different line.</summary>
    public const string SiteLog = "response/net-log";

    private DeviceLog? _log;
    private FuzzContext? _context;
    private int _seen;

    /// <summary>Lines judged since construction (all executions).</summary>
    public long JudgedTotal { get; private set; }

    /// <summary>Starts judging <paramref name="log"/> (null: nothing is judged) from the lines it holds now.</summary>
    public void Begin(DeviceLog? log, FuzzContext? context)
    {
        _log = log;
        _context = context;
        _seen = log?.Lines.Count ?? 0;
    }

    /// <summary>Forgets the lines logged so far (events the oracles did not see: a re-initialisation).</summary>
    public void Resync() => _seen = _log?.Lines.Count ?? 0;

    /// <summary>The device just did what <paramref name="expected"/> says it logs (null: an event not judged, the
    /// cursor only moves); <paramref name="what"/> names the event in the finding.</summary>
    public void Judge(string? expected, string what)
    {
        if (_log is null)
            return;
        int count = _log.Lines.Count;
        int fresh = count - _seen;
        _seen = count;
        if (expected is null || _log.Dropped != 0 || !_log.Enabled)
            return;
        JudgedTotal++;
        if (fresh <= 0)
        {
            _context?.Report(
                ResponseOracle.Oracle,
                "response/net-log",
                $"{what}: the device logged no line; expected \"{expected}\""
            );
            return;
        }
        string last = _log.Lines[count - 1];
        if (!string.Equals(last, expected, StringComparison.Ordinal))
        {
            _context?.Report(
                ResponseOracle.Oracle,
                "response/net-log",
                $"{what}: the device logged \"{last}\"; expected \"{expected}\""
            );
        }
    }
}
