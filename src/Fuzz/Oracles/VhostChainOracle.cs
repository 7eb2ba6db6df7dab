using Sim.Devices.Vhost;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets;

namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// The vhost twin of the ring's <c>chain/*</c> oracle (issue 12 item 5): every <c>vhost_get_vq_desc</c> of a vring is
/// judged against <see cref="VhostChainReference"/>, the walk Linux drivers/vhost/vhost.c does for the state and
/// memory the pop started from (nothing writes guest memory during a pop, so the model walks after it). Sites:
/// <c>vhost-chain/valid-chain-rejected</c>, <c>invalid-chain-accepted</c>, <c>wrong-error-kind</c> (the vq_err
/// reasons, in order, or the errno), <c>result-differs</c> (another head, or none where one is available),
/// <c>element-differs</c> (the iovecs and their out/in split), <c>descriptor-reads-differ</c> (the bytes the pop read
/// from guest memory: one descriptor more than <c>++found &gt; num</c> allows is 16 bytes more) and
/// <c>index-differs</c> (last_avail_idx or the avail idx cache afterwards). Outside pops it judges the vq_errs of
/// every <c>vhost_disable_notify</c> / <c>vhost_enable_notify</c> against the ring accesses Linux makes there, each
/// faulting one a vq_err (<c>vhost-notify/vq-err-differs</c>). It is the vring's
/// <see cref="IVhostPopObserver"/> and a memory observer counting the device's reads during the pop.
/// </summary>
internal sealed class VhostChainOracle : IVhostPopObserver, IMemoryObserver
{
    public const string Oracle = "vhost-chain";

    private readonly VhostChainReference _model = new();
    private readonly GuestMemory _memory;
    private VhostChainReference.Start _start;
    private IReadOnlyList<VhostIotlbMap> _maps = [];
    private readonly List<VqErrorCode> _errors = [];
    private long _bytesRead;
    private bool _inPop;
    private readonly List<VqErrorCode> _notifyErrors = [];
    private readonly List<VqErrorCode> _notifyExpected = [];
    private string _notifyCall = "";
    private bool _inNotify;

    // The one le16 store Linux makes in this notification change (used->flags or avail_event), or none; and the
    // device's stores seen meanwhile (site vhost-notify/store-differs).
    private ulong _storeUser;
    private ushort _storeValue;
    private bool _storeExpected;
    private readonly List<(ulong Gpa, int Length, ushort Value)> _stores = [];

    private VhostChainOracle(GuestMemory memory) => _memory = memory;

    /// <summary>Where violations are reported; null only counts them.</summary>
    public FuzzContext? Context { get; set; }

    /// <summary>Pops judged (tests).</summary>
    public long Judged { get; private set; }

    /// <summary>Violations seen (also without a context).</summary>
    public int Violations { get; private set; }

    /// <summary>The last violation's site, or null.</summary>
    public string? LastSite { get; private set; }

    /// <summary>Judges every pop of <paramref name="vq"/> in <paramref name="simulation"/>.</summary>
    public static VhostChainOracle Install(Simulation simulation, VhostVirtqueue vq)
    {
        ArgumentNullException.ThrowIfNull(simulation);
        ArgumentNullException.ThrowIfNull(vq);
        var oracle = new VhostChainOracle(simulation.Memory);
        simulation.AddMemoryObserver(oracle);
        vq.PopObserver = oracle;
        return oracle;
    }

    void IVhostPopObserver.BeforePop(VhostVirtqueue vq)
    {
        _start = new VhostChainReference.Start(vq.Num, vq.Desc, vq.Avail, vq.LastAvailIdx, vq.AvailIdx);
        _maps = vq.Device.Umem?.Maps ?? VhostIotlb.Empty.Maps;
        _errors.Clear();
        _bytesRead = 0;
        _inPop = true;
    }

    void IVhostPopObserver.VqError(VhostVirtqueue vq, VqErrorCode code)
    {
        if (_inPop)
            _errors.Add(code);
        else if (_inNotify)
            _notifyErrors.Add(code);
    }

    // ---- vq_errs outside a pop: vhost_disable_notify / vhost_enable_notify (site vhost-notify/vq-err-differs)

    void IVhostPopObserver.BeforeDisableNotify(VhostVirtqueue vq)
    {
        BeginNotify("vhost_disable_notify");
        // Linux vhost_disable_notify: nothing when NO_NOTIFY is set already; without EVENT_IDX it writes used->flags
        // (vhost_update_used_flags stores vq->used_flags | NO_NOTIFY), and a failed store is vq_err "Failed to
        // disable notification". With EVENT_IDX nothing is stored: suppression is the stale avail_event.
        if ((vq.UsedFlags & VirtioSpec.UsedFNoNotify) != 0 || AckedEventIdx(vq))
            return;
        if (!Mapped(vq, vq.Used, VirtioSpec.UsedFlagsOffset))
            _notifyExpected.Add(VqErrorCode.UsedFlagsWrite);
        else
            ExpectStore(vq.Used + VirtioSpec.UsedFlagsOffset, (ushort)(vq.UsedFlags | VirtioSpec.UsedFNoNotify));
    }

    /// <summary>VIRTIO_RING_F_EVENT_IDX in the vring's acked features, read from the feature word itself: the
    /// device's own feature test (<c>VhostFeatures.Has</c>, <c>vq.EventIdx</c>) is code under test, and an oracle that
    /// asked it would agree with a broken one.</summary>
    private static bool AckedEventIdx(VhostVirtqueue vq) => ((vq.AckedFeatures >> VirtioSpec.FEventIdx) & 1) != 0;

    private void ExpectStore(ulong user, ushort value)
    {
        _storeExpected = true;
        _storeUser = user;
        _storeValue = value;
    }

    void IVhostPopObserver.BeforeEnableNotify(VhostVirtqueue vq)
    {
        BeginNotify("vhost_enable_notify");
        if ((vq.UsedFlags & VirtioSpec.UsedFNoNotify) == 0)
            return;
        // Linux vhost_enable_notify: used->flags (no EVENT_IDX) or avail_event (EVENT_IDX) is written, then avail->idx
        // re-read; the first access that faults is vq_err ("Failed to enable notification", "Failed to update
        // avail event index", "Failed to check avail idx") and ends the call.
        // The store: used->flags = used_flags without NO_NOTIFY (vhost_update_used_flags), or avail_event = the
        // cached avail idx (vhost_update_avail_event), VIRTIO 1.2 §2.7.10.
        if (!AckedEventIdx(vq))
        {
            if (!Mapped(vq, vq.Used, VirtioSpec.UsedFlagsOffset))
            {
                _notifyExpected.Add(VqErrorCode.UsedFlagsWrite);
                return;
            }
            ExpectStore(
                vq.Used + VirtioSpec.UsedFlagsOffset,
                (ushort)(vq.UsedFlags & ~VirtioSpec.UsedFNoNotify & 0xFFFF)
            );
        }
        else if (!Mapped(vq, vq.Used, VhostRings.AvailEventOffset(vq.Num)))
        {
            _notifyExpected.Add(VqErrorCode.AvailEventWrite);
            return;
        }
        else
        {
            ExpectStore(vq.Used + VhostRings.AvailEventOffset(vq.Num), vq.AvailIdx);
        }
        if (!Mapped(vq, vq.Avail, VirtioSpec.AvailIdxOffset))
            _notifyExpected.Add(VqErrorCode.AvailIdxRecheck);
    }

    void IVhostPopObserver.AfterNotifyChange(VhostVirtqueue vq)
    {
        if (!_inNotify)
            return;
        _inNotify = false;
        if (_notifyErrors.SequenceEqual(_notifyExpected))
        {
            // A store that faults may have written part of the field; such a call is judged by its vq_err alone.
            if (_storeExpected || _notifyExpected.Count == 0)
                JudgeStores(vq);
            return;
        }
        Fire(
            "vhost-notify/vq-err-differs",
            $"{_notifyCall} raised vq_err [{string.Join(", ", _notifyErrors)}]; for this vring's rings and the VMM's "
                + $"mappings Linux raises [{string.Join(", ", _notifyExpected)}] "
                + "(every faulting ring access is a vq_err)"
        );
    }

    private void BeginNotify(string call)
    {
        _notifyCall = call;
        _notifyErrors.Clear();
        _notifyExpected.Clear();
        _stores.Clear();
        _storeExpected = false;
        _inNotify = true;
    }

    /// <summary>The device's guest-memory stores of a notification change that raised the vq_errs Linux raises:
    /// exactly the one le16 Linux stores (at the guest address the VMM maps the ring field to), or none. A store
    /// skipped or sent to the other field (used->flags with EVENT_IDX acked, or avail_event without) strands or
    /// floods the guest's kicks.</summary>
    private void JudgeStores(VhostVirtqueue vq)
    {
        bool ok;
        string want;
        if (!_storeExpected)
        {
            ok = _stores.Count == 0;
            want = "no store";
        }
        else
        {
            vq.Device.Vmm.Resolve(_storeUser, out GuestAddress gpa, out _);
            ok = _stores is [var one] && one.Gpa == gpa.Value && one.Length == 2 && one.Value == _storeValue;
            want = $"one le16 {_storeValue} at guest address {gpa.Value:x}";
        }
        if (ok)
            return;
        string seen = string.Join(", ", _stores.Take(4).Select(w => $"{w.Length} bytes at {w.Gpa:x} ({w.Value})"));
        Fire(
            "vhost-notify/store-differs",
            $"{_notifyCall} (EVENT_IDX {(AckedEventIdx(vq) ? "acked" : "not acked")}) stored [{seen}]; "
                + $"Linux makes {want} (used->flags without EVENT_IDX, avail_event with it)"
        );
    }

    /// <summary>Whether the le16 at VMM address <paramref name="ring"/> + <paramref name="offset"/> is accessible: both
    /// bytes in one of the VMM's mappings (mappings are separated by gaps, so a field that crosses an end faults; a sum
    /// that wraps lands below every mapping). The rings are accessed through the VMM's address space.</summary>
    private static bool Mapped(VhostVirtqueue vq, ulong ring, ulong offset) =>
        offset <= ulong.MaxValue - ring
        && vq.Device.Vmm.Resolve(ring + offset, out _, out ulong available)
        && available >= 2;

    void IVhostPopObserver.AfterPop(VhostVirtqueue vq, int result, int outCount, int inCount)
    {
        if (!_inPop)
            return;
        _inPop = false;
        using (_memory.As(MemoryActor.Host))
            _model.Walk(vq.Device.Vmm, _maps, _start);
        Judged++;
        if (!JudgeResult(result))
            return;
        if (result >= 0 && result != (int)_start.Num && !SameElement(vq, outCount, inCount))
        {
            int n = Math.Clamp(outCount + inCount, 0, vq.Iov.Length);
            Fire(
                "vhost-chain/element-differs",
                $"head {result}: vhost returned {outCount} out + {inCount} in iovecs, "
                    + $"the walk of the chain gives {_model.OutCount} + {_model.InCount} ({Describe(_model.Iov)}; "
                    + $"device {DescribeDevice(vq.Iov[..n])})"
            );
            return;
        }
        if (_bytesRead != _model.BytesRead)
        {
            Fire(
                "vhost-chain/descriptor-reads-differ",
                $"the pop read {_bytesRead} bytes of guest memory; "
                    + $"vhost_get_vq_desc reads {_model.BytesRead} for this ring (avail idx, head, 16 per "
                    + "descriptor up "
                    + "to the first broken rule, ++found > num checked before each read)"
            );
            return;
        }
        if (vq.LastAvailIdx != _model.LastAvailIdxAfter || vq.AvailIdx != _model.AvailIdxAfter)
        {
            Fire(
                "vhost-chain/index-differs",
                $"after the pop last_avail_idx {vq.LastAvailIdx} and the avail cache "
                    + $"{vq.AvailIdx}; vhost_get_vq_desc leaves {_model.LastAvailIdxAfter} and {_model.AvailIdxAfter}"
            );
        }
    }

    /// <summary>The return value and the vq_err reasons; false when a violation was reported.</summary>
    private bool JudgeResult(int result)
    {
        int expected = _model.Result;
        int num = (int)_start.Num;
        bool sameErrors = _errors.SequenceEqual(_model.Errors);
        if (expected == result && sameErrors)
            return true;
        bool modelChain = expected >= 0 && expected != num;
        bool deviceChain = result >= 0 && result != num;
        string site = (modelChain, deviceChain) switch
        {
            (true, false) when result < 0 => "vhost-chain/valid-chain-rejected",
            (false, true) when expected < 0 => "vhost-chain/invalid-chain-accepted",
            _ when expected < 0 && result < 0 => "vhost-chain/wrong-error-kind",
            _ => "vhost-chain/result-differs",
        };
        return Fire(
            site,
            $"vhost_get_vq_desc returned {result} with vq_err [{string.Join(", ", _errors)}]; the walk "
                + $"of the chain (num {num}, last_avail_idx {_start.LastAvailIdx}) gives {expected} with "
                + $"[{string.Join(", ", _model.Errors)}]"
        );
    }

    private bool SameElement(VhostVirtqueue vq, int outCount, int inCount)
    {
        if (outCount != _model.OutCount || inCount != _model.InCount)
            return false;
        ReadOnlySpan<UserIovec> iov = vq.Iov;
        for (int k = 0; k < outCount + inCount; k++)
        {
            if (iov[k] != _model.Iov[k])
                return false;
        }
        return true;
    }

    private static string Describe(IEnumerable<UserIovec> iov) =>
        string.Join(" ", iov.Take(8).Select(v => $"{v.Base:x}+{v.Len}"));

    // Named apart from the IEnumerable overload: with first-class spans an array argument binds to the span overload,
    // so calling Describe(iov.ToArray()) from here would recurse forever.
    private static string DescribeDevice(ReadOnlySpan<UserIovec> iov) =>
        Describe((IEnumerable<UserIovec>)iov.ToArray());

    private bool Fire(string site, string message)
    {
        Violations++;
        LastSite = site;
        Context?.Report(Oracle, site, message);
        return false;
    }

    void IMemoryObserver.OnRead(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (_inPop && actor == MemoryActor.Device)
            _bytesRead += data.Length;
    }

    void IMemoryObserver.OnWrite(MemoryActor actor, GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (_inNotify && actor == MemoryActor.Device)
        {
            ushort value =
                data.Length >= 2 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(data) : (ushort)0;
            _stores.Add((address.Value, data.Length, value));
        }
    }
}
