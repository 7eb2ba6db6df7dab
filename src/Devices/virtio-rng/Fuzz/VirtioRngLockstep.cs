using System.Globalization;
using Sim.Engine;
using Sim.Engine.Memory;
using Sim.Machine.Simulation;
using Sim.Spec.Rng;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// Runs one <see cref="RingInput"/> v1 input — the byte format of <c>virtio-rng-qemu-robust</c> — on our robust rng
/// model (<see cref="ModelRngRig"/>) and on QEMU's virtio-rng-pci in lockstep; the shared <see cref="LockstepDriver"/>
/// performs the operations, this class adds the rng's kick settling, the stale-avail fact and the entropy marks.
/// <para>A kick: QEMU's handle_input runs inside the notify write (ioeventfd off) and asks the rng-builtin backend for
/// entropy (virtio_rng_process → rng_backend_request_entropy); the backend answers in a bottom half
/// (rng_builtin_receive_entropy_bh → chr_read), which runs only when QEMU's main loop turns, and chr_read asks again
/// while the queue is not empty. So each kick ends a qtest batch, and QEMU's used.idx is read until it equals the
/// model's (each read is a round trip that lets the main loop turn), at most <see cref="SettleReadsMax"/> times.</para>
/// </summary>
internal sealed class VirtioRngLockstep : ILockstepDevice
{
    public const int OperationsMax = LockstepDriver.OperationsMax;
    public const int MemoryBytes = VirtioBlkLockstep.MemoryBytes;

    /// <summary>used.idx reads after a kick before the difference stands (each lets QEMU's main loop turn
    /// once).</summary>
    public const int SettleReadsMax = 8;

    /// <summary>Model simulation events per execution before the model counts as hung.</summary>
    public const long EventsMax = VirtioBlkLockstep.EventsMax;

    private readonly LockstepDriver _driver;
    private bool[]? _entropy;
    private readonly ObservationReader _observer = new();

    public VirtioRngLockstep() => _driver = new LockstepDriver(this, Facts);

    public ModelRngRig? Model { get; private set; }

    /// <summary>Every used ring (address, size) the model's queue was given during the last run.</summary>
    public List<(ulong Address, int Size)> UsedRingsSeen => _driver.UsedRingsSeen;

    /// <summary>The facts of the last run that rows of <see cref="RngQemu72Differences"/> rest on.</summary>
    public RngRunFacts Facts { get; } = new();

    /// <summary>Whether the last initialisation of the run negotiated INDIRECT_DESC.</summary>
    public bool Indirect => _driver.Indirect;

    /// <summary>Kicks whose used.idx needed more than one read to agree (QEMU's backend answered late).</summary>
    public long LateSettles { get; private set; }

    public QemuVirtioPci Pci => _driver.Pci;

    /// <summary>Binds the QEMU half (after a (re)start): finds and maps the device, learns queue 0's
    /// doorbell.</summary>
    public void Attach(QemuMachine qemu)
    {
        _driver.Attach(qemu, RngSpec.DeviceId);
        _observer.Forget();
    }

    /// <summary>Device reset (status 0) and RAM [0, 64 KiB) cleared; <paramref name="wait"/> waits for the answers
    /// (after a (re)start and on the careful re-run), else they go out with the next input's first batch.</summary>
    public void ResetQemu(bool wait) => _driver.ResetQemu(wait);

    /// <summary>Runs <paramref name="input"/> on both halves and fills the observations; queues QEMU's reset for the
    /// next input at the end.</summary>
    public void Run(
        ReadOnlySpan<byte> input,
        RngObservation model,
        RngObservation qemu,
        Targets.FuzzContext? context = null
    )
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(qemu);
        QemuMachine q = _driver.Qemu;
        q.ClearStderr();
        Simulation sim = RingSimulation.Create(EventsMax);
        context?.Attach(sim); // before the rig: its register accesses are recorded too
        var rig = new ModelRngRig(sim, context);
        Model = rig;
        _entropy = model.Entropy;
        Array.Clear(_entropy);
        _driver.Run(input, rig, context);
        Facts.Refused = rig.Device.Refused;
        Observe(rig, model);
        _observer.Qemu(q, Pci, qemu);
        bool bit = (qemu.DeviceStatus & (byte)VirtioStatus.DeviceNeedsReset) != 0;
        qemu.Broken = Facts.GuestTouchedStatusOrFeatures ? q.Qmp.Broken(QemuCommandLine.RngVirtioBackendPath) : bit;
        qemu.BrokenReason = qemu.Broken ? q.LastStderrLine(StderrWaitMax) : null;
        ResetQemu(wait: false);
    }

    /// <summary>How long a broken QEMU's message may trail the observation.</summary>
    public static readonly TimeSpan StderrWaitMax = TimeSpan.FromMilliseconds(200);

    /// <summary>QEMU 7.2 looks at the queue when DRIVER_OK is written (virtio_rng_set_status → virtio_rng_process): an
    /// avail.idx the memory still holds from an earlier initialisation sizes an entropy request then; the model waits
    /// for a kick.</summary>
    public void BeforeDriverOk(ModelVirtioRig rig, ulong avail)
    {
        ArgumentNullException.ThrowIfNull(rig);
        GuestMemory memory = rig.Simulation.Memory;
        using (memory.As(MemoryActor.Host))
        {
            Facts.StaleAvailAtDriverOk |= memory.TryReadUInt16(new GuestAddress(avail + 2), out ushort idx) && idx != 0;
        }
    }

    /// <summary>Op 13 does nothing on rng (as on <c>virtio-rng-qemu-robust</c>).</summary>
    public void DeviceEvent(QemuMachine qemu, ModelVirtioRig rig, in RingInput.Op op) { }

    /// <summary>Ends the kick's batch and reads QEMU's used.idx until it equals the model's: each read is a round trip
    /// that lets QEMU's main loop run the entropy bottom half.</summary>
    public void Settle(QemuMachine qemu, ModelVirtioRig rig)
    {
        ArgumentNullException.ThrowIfNull(qemu);
        ArgumentNullException.ThrowIfNull(rig);
        qemu.Qtest.Sync();
        if (LockstepDriver.AwaitQemuUsedIdx(qemu, rig, 0, SettleReadsMax))
            LateSettles++;
    }

    /// <summary>The model's side; used rings are compared byte for byte (id, len, idx, flags, avail_event): only
    /// buffer bytes are entropy.</summary>
    private void Observe(ModelRngRig rig, RngObservation o)
    {
        ObservationReader.Model(rig, o);
        foreach ((ulong address, int size) in UsedRingsSeen)
        {
            ulong end = Math.Min((ulong)MemoryBytes, address + 6 + (8UL * (ulong)size));
            for (ulong a = address; a < end; a++)
                o.Entropy[a] = false;
        }
    }

    /// <summary>The device's stores mark entropy bytes (used rings are unmarked at the end).</summary>
    public void OnDeviceWrite(GuestAddress address, ReadOnlySpan<byte> data)
    {
        if (_entropy is null || address.Value >= (ulong)MemoryBytes)
            return;
        int end = (int)Math.Min((ulong)MemoryBytes, address.Value + (ulong)data.Length);
        for (int a = (int)address.Value; a < end; a++)
            _entropy[a] = true;
    }
}
