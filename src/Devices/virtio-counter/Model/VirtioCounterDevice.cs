using System.Buffers.Binary;
using System.Globalization;
using Sim.Devices.Virtio.Queue;
using Sim.Devices.Virtio.Transport;
using Sim.Engine;
using Sim.Engine.Trace;
using Sim.Machine.Simulation;
using Sim.Spec.Counter;
using Sim.Spec.Virtio;

namespace Sim.Devices.Virtio.Counter;

/// <summary>
/// The virtio counter device of seed 002 ("virtio-test", QEMU hw/virtio/virtio-test.c): a device timer on virtual
/// time raises a configuration-change interrupt every <see cref="CounterDeviceOptions.PeriodNs"/>; the driver answers
/// each with a request on queue 0 whose out buffer holds 4-byte numbers (its incremented counter); the device logs
/// every number and pushes the element. It offers VIRTIO_TEST_F_CAN_PRINT (bit 0).
/// <para>
/// Flavours (each difference is marked in the code):
/// <list type="bullet">
/// <item>Timer. Seed: armed at construction (QEMU realize) <see cref="CounterDeviceOptions.FirstDelayNs"/> ahead, then
/// every period forever; neither DRIVER_OK nor reset touches it (virtio_test_set_status and virtio_test_device_reset
/// are empty), so ticks before DRIVER_OK are lost (QEMU virtio_notify_config does nothing then) and the set_config
/// counter survives reset. Robust: armed on DRIVER_OK (first tick one period later), cancelled when DRIVER_OK is
/// cleared or the device resets, tick counter reset too.</item>
/// <item>used.len. Seed pushes the number of bytes it READ (virtqueue_push(vq, elem, offset)); VIRTIO 1.2 §2.7.8.1
/// wants the bytes written to device-writable buffers, which is 0: robust pushes 0.</item>
/// <item>Buffer sizes. Seed reads 4-byte numbers while iov_to_buf returns 4 and silently ignores a ragged tail, an
/// empty request or any in buffers. Robust requires 1..<see cref="CounterDeviceOptions.NumbersPerRequestMax"/> whole
/// numbers and breaks the device otherwise (QEMU virtio_error style, VIRTIO 1.2 §2.1.2 NEEDS_RESET).</item>
/// <item>Configuration. Seed virtio_test_get_config leaves num_pages uninitialised (stack garbage): it reads as
/// <see cref="SeedUninitialisedNumPages"/>. Robust reads 0 and ignores writes to it. Both keep actual and event from
/// driver writes (virtio_test_set_config); robust clears them on reset, seed keeps them (QEMU keeps
/// vdev-&gt;config).</item>
/// </list>
/// Both flavours bound the numbers read per request (the seed's loop is bounded only by the chain) and the log.
/// </para>
/// </summary>
public sealed class VirtioCounterDevice : VirtioDevice, ITimerListener
{
    /// <summary>DeviceResult code of a tick (Value = the set_config counter before the increment, as logged).</summary>
    public const ulong ResultTick = 0x10;

    /// <summary>DeviceResult code of a received number (Value = the number, Data = none).</summary>
    public const ulong ResultNumber = 0x11;

    /// <summary>DeviceResult code of a completed request (Value = used.len pushed).</summary>
    public const ulong ResultRequest = 0x12;

    /// <summary>What the seed's uninitialised num_pages reads as here: a fixed poison so that runs stay deterministic
    /// (the real value is whatever the QEMU stack held).</summary>
    public const uint SeedUninitialisedNumPages = 0xCCCC_CCCC;

    private readonly CounterDeviceOptions _options;
    private readonly VirtualTimer _timer;
    private readonly QueueElement _element = new();
    private readonly List<string> _log = new();
    private readonly List<uint> _received = new();

    // The number being read, reused across numbers and requests (a test build poisons it, IHostPoison).
    private readonly byte[] _word = new byte[CounterSpec.NumberSize];
    private uint _setConfig;

    /// <summary>A counter device on <paramref name="simulation"/> (its timer runs on the simulation's clock).</summary>
    public VirtioCounterDevice(Simulation simulation, CounterDeviceOptions? options = null)
        : base(
            CounterSpec.DeviceId,
            [CounterSpec.QueueSize],
            1UL << CounterSpec.FCanPrint,
            CounterSpec.ConfigSize,
            (options ?? new CounterDeviceOptions()).TraceId
        )
    {
        ArgumentNullException.ThrowIfNull(simulation);
        _options = options ?? new CounterDeviceOptions();
        _options.Validate();
        SimulationRef = simulation;
        _timer = simulation.CreateTimer(this, "virtio-counter", _options.TicksMax);
        RefreshConfig();
        // Seed virtio_test_device_realize: timer_new_ms + test_stats_change_timer(s, 30), before any driver exists.
        if (_options.Flavour == Flavour.Seed)
            _timer.Start(_options.FirstDelayNs);
    }

    /// <summary>Seed (seed 002 as written) or robust.</summary>
    public Flavour Flavour => _options.Flavour;

    /// <summary>The options it was built with.</summary>
    public CounterDeviceOptions Options => _options;

    /// <summary>The device timer (QEMU stats_timer).</summary>
    public VirtualTimer Timer => _timer;

    /// <summary>Timer expiries handled (QEMU set_config, which the seed logs and increments).</summary>
    public uint Ticks => _setConfig;

    /// <summary>Ticks that raised a configuration interrupt (DRIVER_OK was set).</summary>
    public long ConfigInterrupts { get; private set; }

    /// <summary>Ticks that reached no driver (before DRIVER_OK, or broken): the seed's lost notifications.</summary>
    public long TicksLost { get; private set; }

    /// <summary>Requests popped and completed.</summary>
    public long Requests { get; private set; }

    /// <summary>Numbers read from requests.</summary>
    public long NumbersReceived { get; private set; }

    /// <summary>Bytes of a request's out buffer left unread because they did not make a whole number (seed
    /// only).</summary>
    public long TailBytesIgnored { get; private set; }

    /// <summary>The numbers received, in order (at most <see cref="CounterDeviceOptions.LogLinesMax"/>).</summary>
    public IReadOnlyList<uint> Received => _received;

    /// <summary>The device's log, the seed's qemu_log lines ("==============set config:%d", "=========get virtio
    /// num:%d"), in order (at most <see cref="CounterDeviceOptions.LogLinesMax"/>).</summary>
    public IReadOnlyList<string> Log => _log;

    /// <summary>Log lines not kept.</summary>
    public long LogLinesDropped { get; private set; }

    /// <summary>The configuration field actual (le32, written by the driver).</summary>
    public uint Actual => BinaryPrimitives.ReadUInt32LittleEndian(Config[CounterSpec.ConfigActualOffset..]);

    /// <summary>The configuration field event (le32, written by the driver).</summary>
    public uint Event => BinaryPrimitives.ReadUInt32LittleEndian(Config[CounterSpec.ConfigEventOffset..]);

    private Simulation SimulationRef { get; }

    // ------------------------------------------------------------------ timer

    /// <summary>Seed test_stats_poll_cb: log "set config:%d" with set_config++, virtio_notify_config, re-arm one
    /// period ahead (the base class does nothing before DRIVER_OK, as QEMU).</summary>
    void ITimerListener.OnTimer(VirtualTimer timer)
    {
        uint n = _setConfig;
        _setConfig = unchecked(_setConfig + 1);
        if (LogWanted())
            AddLog(string.Create(CultureInfo.InvariantCulture, $"==============set config:{Narrow.AsInt32Bits(n)}"));
        else
            LogLinesDropped++;
        SimulationRef.Emit(TraceEventKind.DeviceResult, TraceId, ResultTick, n, default);
        if (!DriverOk || IsBroken)
        {
            TicksLost++;
        }
        else
        {
            ConfigInterrupts++;
        }
        // Robust: a broken device keeps its NEEDS_RESET interrupt and raises no more ticks.
        if (_options.Flavour == Flavour.Seed || !IsBroken)
            NotifyConfigChanged();
        if (!_timer.IsArmed)
            _timer.Start(_options.PeriodNs);
    }

    // ------------------------------------------------------------------ queue

    /// <summary>Seed virtio_test_handle_output: pop every request, read its 4-byte numbers, log each, push,
    /// notify.</summary>
    protected override void HandleQueueNotify(int queueIndex)
    {
        // Each pop consumes one available entry and the guest cannot add while the device runs: at most a queue's
        // worth.
        for (int i = 0; i < CounterSpec.QueueSize; i++)
        {
            if (!TryPop(queueIndex, _element))
                return;
            if (!TryHandle(queueIndex))
                return;
        }
    }

    private bool TryHandle(int queueIndex)
    {
        ulong outBytes = _element.OutBytes;
        ulong numbers = outBytes / CounterSpec.NumberSize;
        ulong tail = outBytes % CounterSpec.NumberSize;
        if (
            _options.Flavour == Flavour.Robust
            && (numbers == 0 || tail != 0 || numbers > CounterDeviceOptions.NumbersPerRequestMax)
        )
        {
            // Robust: a request must be whole numbers (the driver's sg_init_one of one __virtio32).
            SetBroken(
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"virtio-counter: request of {outBytes} bytes is not "
                        + $"1..{CounterDeviceOptions.NumbersPerRequestMax} 4-byte numbers"
                )
            );
            return false;
        }
        // Seed: while (iov_to_buf(..., offset, &pfn, 4) == 4) — stops at a ragged tail without complaint.
        if (numbers > CounterDeviceOptions.NumbersPerRequestMax)
            numbers = CounterDeviceOptions.NumbersPerRequestMax;
        else
            TailBytesIgnored += Narrow.AsInt64Bits(tail);
        Span<byte> word = _word;
        ulong offset = 0;
        for (ulong k = 0; k < numbers; k++)
        {
            Poison?.Fill(word);
            int got = _element.ReadOut(Memory, offset, word);
            if (got != CounterSpec.NumberSize)
                break;
            offset += CounterSpec.NumberSize;
            // virtio_ldl_p: little-endian on x86 and VERSION_1
            uint value = BinaryPrimitives.ReadUInt32LittleEndian(word);
            NumbersReceived++;
            if (_received.Count < _options.LogLinesMax)
                _received.Add(value);
            if (LogWanted())
                AddLog(
                    string.Create(CultureInfo.InvariantCulture, $"=========get virtio num:{Narrow.AsInt32Bits(value)}")
                );
            else
                LogLinesDropped++;
            SimulationRef.Emit(TraceEventKind.DeviceResult, TraceId, ResultNumber, value, default);
        }
        // Seed: virtqueue_push(vq, elem, offset) reports the bytes read. Robust: nothing was written (VIRTIO 1.2
        // §2.7.8.1).
        uint len = _options.Flavour == Flavour.Seed ? Narrow.LowUInt32(offset) : 0;
        Requests++;
        SimulationRef.Emit(TraceEventKind.DeviceResult, TraceId, ResultRequest, len, default);
        TryPush(queueIndex, _element, len);
        NotifyQueue(queueIndex);
        return true;
    }

    // ------------------------------------------------------------------ lifecycle and configuration

    /// <inheritdoc/>
    protected override void OnStatusChanged(VirtioStatus oldStatus, VirtioStatus newStatus)
    {
        // Seed virtio_test_set_status is empty: the timer does not care about the driver.
        if (_options.Flavour == Flavour.Seed)
            return;
        bool wasOk = (oldStatus & VirtioStatus.DriverOk) != 0;
        bool isOk = (newStatus & VirtioStatus.DriverOk) != 0;
        if (!wasOk && isOk)
            _timer.Start(_options.PeriodNs);
        else if (wasOk && !isOk)
            _timer.Cancel();
    }

    /// <inheritdoc/>
    protected override void OnReset()
    {
        // Seed virtio_test_device_reset is empty: timer, set_config and the configuration all survive.
        if (_options.Flavour == Flavour.Seed)
            return;
        _timer.Cancel();
        _setConfig = 0;
        Config.Clear();
        RefreshConfig();
    }

    /// <inheritdoc/>
    protected override void ReadConfig(int offset, Span<byte> data)
    {
        RefreshConfig(); // QEMU virtio_config_readX calls get_config first
        base.ReadConfig(offset, data);
    }

    /// <inheritdoc/>
    protected override void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
        base.WriteConfig(offset, data); // virtio_config_writeX stores the bytes, then set_config keeps actual and event
        RefreshConfig();
    }

    /// <summary>Seed virtio_test_get_config: num_pages uninitialised, actual and event as stored. Robust: num_pages
    /// 0.</summary>
    private void RefreshConfig()
    {
        uint numPages = _options.Flavour == Flavour.Seed ? SeedUninitialisedNumPages : 0;
        BinaryPrimitives.WriteUInt32LittleEndian(Config[CounterSpec.ConfigNumPagesOffset..], numPages);
    }

    /// <summary>False when a line would be neither kept nor echoed: the caller counts it as dropped without formatting
    /// it, so a guest that streams numbers past the full log costs no host allocation per number.</summary>
    private bool LogWanted() => _log.Count < _options.LogLinesMax || _options.EchoLog;

    private void AddLog(string line)
    {
        if (_log.Count < _options.LogLinesMax)
            _log.Add(line);
        else
            LogLinesDropped++;
        if (_options.EchoLog)
            SimulationRef.Print("qemu: " + line);
    }
}
