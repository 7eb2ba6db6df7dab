using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Virtio.Blk;
using Sim.Devices.Virtio.Counter;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Factorial;
using Sim.Devices.Virtio.Transport;
using Sim.Engine.Memory;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The response oracle (issue 12 item 2): on every used entry <see cref="VirtqueueChecker"/> sees published, it
/// gathers the chain's readable bytes (the request the guest offered) and writable bytes (what the device answered)
/// and judges them, with used.len and the device log, against <see cref="DeviceReferenceModels"/>. Scoped to the
/// robust flavours (the seed flavours' answers are the seed flaws, which other oracles report). Chains whose walk is
/// not certainly the device's view (<see cref="ICompletionObserver"/>: not plain), whose buffers overlap one another
/// or are empty, or that lie outside guest memory are skipped: for them the bytes after completion need not be the
/// bytes offered and answered.
/// </summary>
internal sealed class ResponseOracle : ICompletionObserver
{
    /// <summary>Oracle name.</summary>
    public const string Oracle = "response";

    /// <summary>Most buffers of a chain judged (the overlap check is quadratic).</summary>
    public const int BuffersMax = 64;

    /// <summary>Most bytes gathered per direction.</summary>
    public const int BytesMax = 1 << 20;

    private byte[] _readable = new byte[256];
    private byte[] _writable = new byte[256];
    private byte[] _shadow = [];
    private readonly List<string> _newLines = new();
    private VirtioDevice? _device;
    private GuestMemory? _memory;
    private FuzzContext? _context;
    private uint _demoState;
    private bool _demoKnown;
    private long _resets;
    private int _counterLogSeen;
    private int _demoLogSeen;
    private int _factorialLogSeen;
    private long _demoRequestsSeen;
    private long _blkRequestsSeen;

    /// <summary>Judged demo requests that stored buff (opt 1) since <see cref="Begin"/>: the configuration mirrors
    /// buff, so <see cref="ConfigSpaceOracle"/> takes the model's state again when this moves.</summary>
    public long DemoStores { get; private set; }

    /// <summary>True while the demo model knows the state (no unjudged request since the last store or
    /// reset).</summary>
    public bool DemoStateKnown => _demoKnown;

    /// <summary>Times the demo state became unknown since <see cref="Begin"/> (a request the oracle could not
    /// judge).</summary>
    public long DemoLost { get; private set; }

    /// <summary>The demo model's state (meaningful while <see cref="DemoStateKnown"/>).</summary>
    public uint DemoState => _demoState;

    /// <summary>The image a blk target's disk was built from (<c>DeviceEntry.FuzzDiskImage</c>): the model's disk
    /// starts from it rather than from the device's disk. Empty (or of another size): the device's disk.</summary>
    public ReadOnlyMemory<byte> InitialDisk { get; set; }

    /// <summary>Chains judged since <see cref="Begin"/>.</summary>
    public int Judged { get; private set; }

    /// <summary>Chains judged since construction (all executions).</summary>
    public long JudgedTotal { get; private set; }

    /// <summary>True when <paramref name="device"/> of <paramref name="flavour"/> has a reference model here (robust
    /// demo, factorial, counter, and blk on a memory disk).</summary>
    public static bool HasModel(VirtioDevice device, Flavour flavour) =>
        flavour == Flavour.Robust
        && device
            is VirtioDemoDevice
                or VirtioFactorialDevice
                or VirtioCounterDevice
                or VirtioBlkDevice { Backend: MemoryBlockBackend };

    /// <summary>Starts judging a fresh <paramref name="device"/> (one execution); a device without a model is
    /// ignored.</summary>
    public void Begin(VirtioDevice? device, Flavour flavour, GuestMemory memory, FuzzContext? context)
    {
        _device = device is not null && HasModel(device, flavour) ? device : null;
        _memory = memory;
        _context = context;
        _demoState = DeviceReferenceModels.DemoInitialState;
        _demoKnown = true;
        _resets = device?.ResetCount ?? 0;
        _counterLogSeen = 0;
        DemoStores = 0;
        DemoLost = 0;
        _demoRequestsSeen = (device as VirtioDemoDevice)?.Requests ?? 0;
        _blkRequestsSeen = (device as VirtioBlkDevice)?.Stats.Requests ?? 0;
        _demoLogSeen = (device as VirtioDemoDevice)?.Log.Lines.Count ?? 0;
        _factorialLogSeen = (device as VirtioFactorialDevice)?.Log.Lines.Count ?? 0;
        Judged = 0;
        if (_device is VirtioBlkDevice { Backend: MemoryBlockBackend disk })
        {
            if (_shadow.Length != disk.Contents.Length)
                _shadow = new byte[disk.Contents.Length];
            // The disk image the run starts from: the one the target built the disk from when it says so (a device that
            // lost or misplaced it is then judged by the first read), else the device's.
            if (InitialDisk.Length == _shadow.Length)
                InitialDisk.Span.CopyTo(_shadow);
            else
                disk.Contents.CopyTo(_shadow);
        }
    }

    public void OnCompleted(int head, uint usedLen, RangeList readable, RangeList writable, bool plain)
    {
        if (_device is null)
            return;
        if (_device is VirtioDemoDevice d)
            _demoRequestsSeen = d.Requests;
        if (_device is VirtioBlkDevice blk)
            _blkRequestsSeen = blk.Stats.Requests;
        if (_device.ResetCount != _resets)
        {
            _resets = _device.ResetCount;
            _demoState = DeviceReferenceModels.DemoInitialState; // robust OnReset restores s->buff
            _demoKnown = true;
        }
        if (!plain)
        {
            Skip();
            return;
        }
        if (
            !Disjoint(readable, writable)
            || !readable.TryGather(_memory!, BytesMax, ref _readable, out int rlen)
            || !writable.TryGather(_memory!, BytesMax, ref _writable, out int wlen)
        )
        {
            Skip();
            return;
        }
        ReadOnlySpan<byte> r = _readable.AsSpan(0, rlen);
        ReadOnlySpan<byte> w = _writable.AsSpan(0, wlen);
        ResponseMismatch? m = _device switch
        {
            VirtioDemoDevice => JudgeDemo(r, w, usedLen),
            VirtioFactorialDevice f => DeviceReferenceModels.Factorial(r, w, usedLen)
                ?? JudgeFactorialLog(f, r, w.Length),
            VirtioCounterDevice c => JudgeCounter(c, r, usedLen),
            VirtioBlkDevice { Backend: MemoryBlockBackend disk } => DeviceReferenceModels.Blk(
                r,
                w,
                usedLen,
                _shadow,
                disk.Contents
            ),
            _ => null,
        };
        Judged++;
        JudgedTotal++;
        if (m is { } bad)
            _context?.Report(Oracle, bad.Site, $"head {head}: {bad.Message}");
    }

    /// <summary>The checker starts watching the rings again (after a device reset, or rings moved): a request the
    /// device completed while it was not watching was never judged. The robust reset op's status write is one such
    /// window: QEMU virtio_device_stop_ioeventfd_impl drains a pending kick ("Test and clear notifier after disabling
    /// event") before the reset, so a blk write can land on the disk unseen; the model's disk follows the device's,
    /// as for a skipped request (a copy of equal bytes when nothing changed), and the counter's lines so far are those
    /// requests'. The demo state becomes unknown when the device handled a request the oracle has not seen (its
    /// request count only, never its state).</summary>
    public void Resync()
    {
        if (_device is VirtioDemoDevice demo && demo.Requests != _demoRequestsSeen)
        {
            _resets = demo.ResetCount; // a reset in the window must not make the state known again
            _demoKnown = false;
            DemoLost++;
        }
        if (_device is VirtioCounterDevice counter)
            _counterLogSeen = counter.Log.Count;
        if (_device is VirtioDemoDevice d)
            _demoLogSeen = d.Log.Lines.Count;
        if (_device is VirtioFactorialDevice f)
            _factorialLogSeen = f.Log.Lines.Count;
        // Only a request the oracle did not see can have changed the disk unseen (the first configuration of an
        // execution must keep the model's initial image, or a device that lost it would be followed).
        if (_device is VirtioBlkDevice blk && blk.Stats.Requests != _blkRequestsSeen)
        {
            _blkRequestsSeen = blk.Stats.Requests;
            FollowDeviceDisk();
        }
    }

    /// <summary>A request the oracle cannot judge: the counter's log lines so far are its; a blk write may have changed
    /// the disk in a way the model cannot know, so the model's disk follows the device's (a later read is judged
    /// against what the disk then holds); the demo state becomes unknown.</summary>
    private void Skip()
    {
        _demoKnown = false; // the skipped request may have been an opt-1 store
        DemoLost++;
        if (_device is VirtioCounterDevice counter)
            _counterLogSeen = counter.Log.Count;
        if (_device is VirtioDemoDevice d)
            _demoLogSeen = d.Log.Lines.Count;
        if (_device is VirtioFactorialDevice f)
            _factorialLogSeen = f.Log.Lines.Count;
        FollowDeviceDisk();
    }

    /// <summary>The blk model's disk becomes the device's (a write the oracle did not judge may have changed
    /// it).</summary>
    private void FollowDeviceDisk()
    {
        if (_device is not VirtioBlkDevice { Backend: MemoryBlockBackend disk })
            return;
        if (_shadow.Length == disk.Contents.Length)
            disk.Contents.CopyTo(_shadow);
    }

    /// <summary>The demo state is what the last store left; after a completion the oracle could not judge (it may
    /// have been a store) it is unknown until a judged opt-1 store or a reset makes it known again. While unknown an
    /// opt-0 answer's state is not judged (its opt and used.len still are); the device's own state is never read, so
    /// the oracle stays independent of it.</summary>
    private ResponseMismatch? JudgeDemo(ReadOnlySpan<byte> r, ReadOnlySpan<byte> w, uint usedLen)
    {
        bool full = r.Length >= 8 && w.Length >= 8;
        uint opt = full ? BinaryPrimitives.ReadUInt32LittleEndian(r) : 0;
        if (full && opt == 1)
            DemoStores++;
        if (_demoKnown)
        {
            uint before = _demoState;
            return DeviceReferenceModels.Demo(ref _demoState, r, w, usedLen) ?? JudgeDemoLog(r, w, before);
        }
        // Unknown: assume the state the device answered with (only an opt-0 answer depends on it).
        uint state = full ? BinaryPrimitives.ReadUInt32LittleEndian(w[4..]) : 0;
        ResponseMismatch? m = DeviceReferenceModels.Demo(ref state, r, w, usedLen);
        if (full && opt == 1)
        {
            _demoState = state; // the store's buff
            _demoKnown = true;
        }
        return m;
    }

    /// <summary>The robust demo logs one line per request (its <c>printf</c>s): the newest line since the previous
    /// completion must be the one the model says, for the state <paramref name="before"/> the request.</summary>
    private ResponseMismatch? JudgeDemoLog(ReadOnlySpan<byte> r, ReadOnlySpan<byte> w, uint before)
    {
        if (_device is not VirtioDemoDevice d)
            return null;
        IReadOnlyList<string> lines = d.Log.Lines;
        int seen = _demoLogSeen;
        _demoLogSeen = lines.Count;
        if (d.Log.Dropped != 0 || !d.Log.Enabled)
            return null; // full or off: lines are gone by design
        string expected = DeviceReferenceModels.DemoLogLine(r, w.Length, before);
        if (lines.Count > seen && lines[^1] == expected)
            return null;
        string got = lines.Count > seen ? $"\"{lines[^1]}\"" : "no line";
        return new("response/demo-log", $"the request's log line is {got}, expected \"{expected}\"");
    }

    /// <summary>The robust factorial logs one line per request (its <c>qemu_log</c> of arg1 and arg2): the newest line
    /// since the previous completion must be the one the model says for the request's bytes.</summary>
    private ResponseMismatch? JudgeFactorialLog(VirtioFactorialDevice f, ReadOnlySpan<byte> r, int writableLength)
    {
        IReadOnlyList<string> lines = f.Log.Lines;
        int seen = _factorialLogSeen;
        _factorialLogSeen = lines.Count;
        if (f.Log.Dropped != 0 || !f.Log.Enabled)
            return null; // full or off: lines are gone by design
        string expected = DeviceReferenceModels.FactorialLogLine(r, writableLength);
        if (lines.Count > seen && lines[^1] == expected)
            return null;
        string got = lines.Count > seen ? $"\"{lines[^1]}\"" : "no line";
        return new("response/factorial-log", $"the request's log line is {got}, expected \"{expected}\"");
    }

    private ResponseMismatch? JudgeCounter(VirtioCounterDevice c, ReadOnlySpan<byte> r, uint usedLen)
    {
        IReadOnlyList<string> log = c.Log;
        if (c.LogLinesDropped != 0 && log.Count < c.Options.LogLinesMax)
        {
            // The bound is the only reason to drop a line (the seed's qemu_log keeps every one).
            return new(
                "response/counter-log-dropped",
                $"{c.LogLinesDropped} log lines were dropped while the log held {log.Count} "
                    + $"of its {c.Options.LogLinesMax}"
            );
        }
        if (c.LogLinesDropped != 0 || _counterLogSeen > log.Count)
            return null; // the bounded log is full: lines are gone
        _newLines.Clear();
        for (int i = _counterLogSeen; i < log.Count; i++)
            _newLines.Add(log[i]);
        _counterLogSeen = log.Count;
        return DeviceReferenceModels.Counter(r, usedLen, _newLines);
    }

    /// <summary>True when no buffer is empty and no two buffers of the chain share a byte.</summary>
    internal static bool Disjoint(RangeList readable, RangeList writable)
    {
        int n = readable.Count + writable.Count;
        if (n > BuffersMax)
            return false;
        for (int i = 0; i < n; i++)
        {
            GuestRange a = i < readable.Count ? readable[i] : writable[i - readable.Count];
            if (a.Length == 0)
                return false;
            for (int j = i + 1; j < n; j++)
            {
                GuestRange b = j < readable.Count ? readable[j] : writable[j - readable.Count];
                if (a.Overlap(b.Start, b.Length) > 0)
                    return false;
            }
        }
        return true;
    }
}
