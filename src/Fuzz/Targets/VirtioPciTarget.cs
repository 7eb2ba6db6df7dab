using Sim.Devices;
using Sim.Devices.Vhost;
using Sim.Devices.Vhost.Frontend;
using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Demo;
using Sim.Devices.Virtio.Transport;
using Sim.Machine.Simulation;
using Virtsim.Fuzz.Input;
using Virtsim.Fuzz.Mutation;
using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Targets.Rings;
using Virtsim.Fuzz.Targets.Transport;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The virtio PCI transport itself (<see cref="VirtioPciTransport"/>, transitional: legacy I/O BAR 0, MSI-X BAR 1,
/// modern BAR 4) with robust virtio-demo behind it, driven by arbitrary register sequences
/// (<see cref="VirtioPciInput"/>): common configuration, ISR, device configuration and notify accesses of any size and
/// offset, the legacy registers, PCI configuration writes (BAR sizing and moves, the command register, MSI-X control,
/// the PCI configuration access window), MSI-X table writes, resets (status 0, legacy QUEUE_PFN 0, PCI reset) and
/// feature changes at any time — also while requests a guest actor posted are in flight.
/// Oracles: <see cref="VirtioPciRegisterModel"/> (registers read back what the driver's writes say, queue_size a power
/// of two within the maximum, status rules of VIRTIO 1.2 §2.1 / §3.1.1, reset values, ISR read clears, config
/// generation); <see cref="DeviceAccessGate"/> (no device memory access without DRIVER_OK and bus mastering, so none
/// after a reset until the driver sets up again); <see cref="VirtqueueChecker"/> (permission and used-ring rules on the
/// rings the driver published); hang (event budget); liveness; missed interrupt (<see cref="MissedInterruptOracle"/>
/// at the end: an MSI-X message, a masked vector's pending bit or INTx with ISR bit 0 for the used entries the driver's
/// suppression state asks one for, also across a vhost stop; VirtioPciExecution.Interrupts.cs); host exceptions and
/// assertions.
/// With <c>vhostFrontend</c> (<c>virtio-pci-vhost-robust</c>) the device behind the transport is
/// <see cref="VhostDemoFrontendDevice"/>, the QEMU side that starts the in-kernel vhost-demo backend on DRIVER_OK and
/// stops it when DRIVER_OK goes: the same hostile register sequences then drive vhost_dev_start / vhost_dev_stop
/// (feature negotiation, VHOST_SET_VRING_*, the host notifier as kick fd, irqfd or userspace call fd, the ring
/// hand-back at stop), liveness reads the backend's last_avail_idx while vhost runs, and
/// <see cref="VhostChainOracle"/> judges the backend vring's pops and notification changes,
/// <see cref="VhostWeightOracle"/> each handler run's yield at its weight, and a worker that keeps requeueing itself
/// without progress is a hang (<c>hang/vhost-worker-livelock</c>); a restart without a reset resumes the checker
/// (<see cref="VirtqueueChecker.Resume"/>: no completed chain is taken again). The backend runs with the fuzz targets'
/// vhost options (<see cref="VhostBackendRig.Options"/>: packet weight 16, livelock after 16 idle self-requeues).
/// <c>virtio-pci-vhost-seed</c> puts the seed's vhost-demo backend (handle_demo_kick as seed 000 lab 3 writes it,
/// <see cref="VhostDemo"/>) behind the same frontend and a robust transport: the transport's own seed flaws are
/// <c>virtio-pci-qemu-seed</c>'s, so every finding here is the vhost seed's (its unconditional vhost_poll_queue, its
/// pkts 0 to vhost_exceeds_weight, its worker outliving vhost_dev_stop for want of a backend check) reached through
/// hostile register sequences, vhost start and stop.
/// Each execution builds a fresh simulation in <see cref="CreateSimulation"/>, a <see cref="VirtioPciDriverRig"/> on
/// it and a <see cref="VirtioPciExecution"/> that holds everything the execution knows; the target keeps only the
/// oracles and the guest actor that are reused across executions.
/// </summary>
internal sealed class VirtioPciTarget : IFuzzTarget
{
    /// <summary>The device part of the name (<c>virtio-pci-qemu-robust</c>).</summary>
    public const string DeviceName = "virtio-pci";

    /// <summary>The name of the target with the vhost-demo frontend behind the transport.</summary>
    public const string VhostFrontendTargetName = "virtio-pci-vhost-robust";

    /// <summary>The name of the target with the vhost-demo frontend and the seed's vhost-demo backend.</summary>
    public const string VhostSeedTargetName = "virtio-pci-vhost-seed";

    public const int OperationsMax = 160;

    /// <summary>Simulated nanoseconds one run op lets pass.</summary>
    public const long RunWindowNs = 200_000;

    /// <summary>Events per execution before the run counts as a hang.</summary>
    public const long EventsMax = 200_000;

    private readonly GuestActor _guest = new();
    private readonly VirtqueueChecker _checker = new(RingInput.SizeMax);
    private readonly DeviceAccessGate _gate = new();
    private readonly MissedInterruptOracle _interrupts = new();

    /// <param name="flavour">Without <paramref name="vhostFrontend"/>, the transport's and virtio core's flavour
    /// (<see cref="VirtioPciOptions.Flavour"/>): robust must run clean; seed is QEMU's letter, which the spec oracles
    /// catch (a queue processed before DRIVER_OK, a driver-written DEVICE_NEEDS_RESET kept, legacy-only feature bits
    /// accepted by a modern driver); the demo device behind it is robust in both. With it, the vhost-demo backend's
    /// flavour (<see cref="VhostDemoFrontendDevice.BackendFlavour"/>), behind a robust transport.</param>
    /// <param name="vhostFrontend">The device is the vhost-demo frontend instead of virtio-demo: the target is then
    /// called <c>virtio-pci-vhost-*</c>.</param>
    public VirtioPciTarget(Flavour flavour, bool vhostFrontend = false)
    {
        Flavour = flavour;
        VhostFrontend = vhostFrontend;
        Name = FuzzTargetName.Compose(
            DeviceName,
            vhostFrontend ? FuzzTargetName.BackendVhost : FuzzTargetName.BackendQemu,
            flavour
        );
    }

    /// <summary>The device behind the transport in the last execution (tests).</summary>
    public VirtioDevice? LastDevice { get; private set; }

    /// <summary>The transport of the last execution (tests: MSI-X state).</summary>
    public VirtioPciTransport? LastTransport { get; private set; }

    /// <summary>The device is <see cref="VhostDemoFrontendDevice"/>.</summary>
    public bool VhostFrontend { get; }

    public Flavour Flavour { get; }

    /// <summary>The transport's flavour: <see cref="Flavour"/>, except behind the vhost frontend, whose flavour is the
    /// backend's (the transport is then robust).</summary>
    public Flavour TransportFlavour => VhostFrontend ? Flavour.Robust : Flavour;

    public string Name { get; }

    public string Description =>
        VhostFrontend && Flavour == Flavour.Seed
            ? "virtio-pci transport (robust) with the vhost-demo frontend and the seed's handle_demo_kick backend, "
                + "under the same hostile register sequences; oracles as virtio-pci-vhost-robust's"
        : VhostFrontend
            ? "virtio-pci transport with the vhost-demo frontend (vhost start/stop on DRIVER_OK: features, "
                + "VHOST_SET_VRING_*, kick and call fds, ring hand-back) under hostile register sequences; oracles "
                + "transport, DMA gate, permission, used-ring, hang (event budget, worker livelock), liveness on the "
                + "backend's vring, vhost chain and weight, missed interrupt across vhost stops"
        : "virtio-pci transport (transitional: common/ISR/device/notify caps, legacy I/O BAR, "
            + "MSI-X, PCI config) with virtio-demo and a guest posting requests; oracles transport "
            + "(register model, status machine, reset, ISR, generation, DMA gate), permission, used-ring, hang, "
            + "liveness, missed interrupt (MSI-X, PBA, INTx)";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator { get; } =
        new FixedOpMutator(VirtioPciInput.HeaderLength, VirtioPciInput.OpLength, VirtioPciInput.OpCount);

    public IInputMinimizer? Minimizer { get; } = VirtioPciInputMinimizer.Create(OperationsMax);

    public IEnumerable<byte[]> SeedCorpus() =>
        VhostFrontend ? VirtioPciInput.Seeds().Append(VirtioPciInput.WeightBurstSeed()) : VirtioPciInput.Seeds();

    /// <summary>The one place a simulation is made (trace hooks attach here).</summary>
    private static Simulation CreateSimulation() => RingSimulation.Create(EventsMax);

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var reader = new FuzzInputReader(input);
        byte options = reader.ReadByte();
        int msixVectors = (options & 1) != 0 ? 2 : 0;
        bool ioEventFd = (options & 2) == 0;
        Simulation sim = CreateSimulation();
        context.Attach(sim);
        var rig = new VirtioPciDriverRig(
            sim,
            VhostFrontend
                ? () => new VhostDemoFrontendDevice(sim, Flavour, VhostBackendRig.Options)
                : () => new VirtioDemoDevice(Flavour.Robust),
            () =>
                new VirtioPciOptions
                {
                    Mode = VirtioPciMode.Transitional,
                    MsixVectors = msixVectors,
                    UseIoEventFd = ioEventFd,
                    Flavour = TransportFlavour,
                },
            context
        );
        LastDevice = rig.Device;
        LastTransport = rig.Transport;
        // The frontend's backend vring: every vhost_get_vq_desc and notification change judged against Linux, and each
        // handler run's yield at the weight (the oracle wraps handle_demo_kick).
        if (rig.Device is VhostDemoFrontendDevice frontend)
        {
            VhostChainOracle.Install(sim, frontend.Backend.Device.Vqs[0]).Context = context;
            VhostWeightOracle.Install(frontend.Backend.Device, 0, frontend.Backend).Context = context;
        }
        var execution = new VirtioPciExecution(rig, msixVectors, _checker, _gate, _guest, _interrupts);
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            VirtioPciInput.Op op = VirtioPciInput.ReadOp(ref reader);
            if (!execution.Apply(op))
                return FuzzOutcome.Completed;
            execution.Sync();
        }
        if (context.Finding is null)
            execution.Liveness();
        execution.FinalInterrupts();
        return FuzzOutcome.Completed;
    }
}
