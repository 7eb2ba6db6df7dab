using System.Buffers.Binary;
using Sim.Devices;
using Sim.Devices.Demo;
using Sim.Engine.Trace;
using Sim.Machine.Kvm;
using Virtsim.Fuzz.Input;

namespace Virtsim.Fuzz.Targets;

/// <summary>
/// The demo PCI device of seed 000 lab 1 (<see cref="DemoPciDevice"/>): arbitrary BAR0 MMIO reads and writes (offset
/// biased to 0 and the BAR's edges, sizes 1/2/4/8), config-space accesses and resets. Oracle <c>model</c>: the device
/// the seed's own check describes — only a 4-byte access at offset 0 reaches <c>buff</c>, every other read is all-ones
/// and every other write is ignored, a reset clears <c>buff</c>, the vendor/device id registers are read-only.
/// The seed flavour breaks it where QEMU's access splitting and the missing reset handler make it differ.
/// Input v1: operations <c>op(1) offset-kind(1) offset(4) size(1) value(8)</c>.
/// Finding traces (<c>FuzzContext.Emit</c>): BAR0 accesses as MmioWrite/MmioRead at the BAR offset, config-space
/// accesses as PioOut/PioIn at the register (source 1), resets as DeviceResult (address 0).
/// </summary>
internal sealed class DemoPciTarget : IFuzzTarget
{
    public const int OperationsMax = 256;

    /// <summary>Bytes per operation: op (1), offset kind (1), offset (4), size choice (1), value (8).</summary>
    public const int OpLength = 15;

    private const string Oracle = "model";

    private readonly byte[] _data = new byte[8];
    private readonly byte[] _expect = new byte[8];

    public DemoPciTarget(Flavour flavour)
    {
        Flavour = flavour;
        Name = FuzzTargetName.Compose("demo-pci", FuzzTargetName.BackendQemu, flavour);
    }

    public Flavour Flavour { get; }

    public string Name { get; }

    public string Description =>
        "seed 000 demo PCI device: BAR0 MMIO and config-space sequences, resets; oracle model (4-byte buff at offset "
        + "0, reset clears it)";

    public int InputVersion => 1;

    public IReadOnlyList<string> InstrumentedAssemblies { get; } = ["Sim.Spec", "Sim.Devices"];

    public IMutator? StructureMutator => null;

    /// <summary>Typed minimiser over the 15-byte operations: op (mod 5), offset kind, offset, size choice (mod 4),
    /// value.</summary>
    public IInputMinimizer? Minimizer { get; } =
        new Minimizing.FramedInputMinimizer(
            0,
            OpLength,
            OperationsMax,
            [],
            [
                new(0, 1, Minimizing.FrameFieldKind.Code, 5),
                new(1, 1, Minimizing.FrameFieldKind.Choice, 8),
                new(2, 4, Minimizing.FrameFieldKind.Value),
                new(6, 1, Minimizing.FrameFieldKind.Small, 4),
                new(7, 8, Minimizing.FrameFieldKind.Value),
            ]
        );

    public IEnumerable<byte[]> SeedCorpus()
    {
        // The seed's guest test: write 0x1333, read it back; then 0x2333 and 0x3333.
        yield return
        [
            .. Op(1, 0, 0, 2, 0x1333),
            .. Op(2, 0, 0, 2, 0),
            .. Op(1, 0, 0, 2, 0x2333),
            .. Op(2, 0, 0, 2, 0),
            .. Op(1, 0, 0, 2, 0x3333),
            .. Op(2, 0, 0, 2, 0),
        ];
        // writeq / readq at 0, then a reset and a read.
        yield return
        [
            .. Op(1, 0, 0, 3, 0xAAAA_BBBB_0000_2333),
            .. Op(2, 0, 0, 2, 0),
            .. Op(2, 0, 0, 3, 0),
            .. Op(3, 0, 0, 0, 0),
            .. Op(2, 0, 0, 2, 0),
        ];
        // Config space: BAR0 sizing probe and an id-register write.
        yield return
        [
            .. Op(4, 4, 0x10, 2, 0xFFFF_FFFF),
            .. Op(4, 0, 0x10, 2, 0),
            .. Op(4, 4, 0x00, 2, 0xDEAD_BEEF),
            .. Op(1, 1, 4, 2, 1),
        ];
    }

    /// <summary>One encoded operation: op, offset kind, raw offset, size choice (0..3 → 1..8 bytes), value.</summary>
    public static byte[] Op(byte op, byte offsetKind, uint offset, byte sizeChoice, ulong value)
    {
        var b = new byte[OpLength];
        b[0] = op;
        b[1] = offsetKind;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(2), offset);
        b[6] = sizeChoice;
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(7), value);
        return b;
    }

    public FuzzOutcome Execute(ReadOnlySpan<byte> input, FuzzContext context)
    {
        var device = new DemoPciDevice(Flavour);
        var reader = new FuzzInputReader(input);
        uint buff = 0;
        for (int n = 0; n < OperationsMax && !reader.IsExhausted && context.Finding is null; n++)
        {
            context.Step();
            int op = reader.ReadChoice(5);
            int kind = reader.ReadByte();
            uint raw = reader.ReadU32();
            int size = 1 << reader.ReadChoice(4);
            ulong value = reader.ReadU64();
            ulong offset = (kind & 3) switch
            {
                0 => raw & 7,
                1 => DemoPciDevice.Bar0Size - (raw & 15),
                _ => raw % DemoPciDevice.Bar0Size,
            };
            Span<byte> data = _data.AsSpan(0, size);
            switch (op)
            {
                case 0:
                    break;
                case 1:
                    BinaryPrimitives.WriteUInt64LittleEndian(_data, value);
                    device.Write(BusKind.Mmio, offset, data);
                    context.Emit(TraceEventKind.MmioWrite, 0, offset, (ulong)size, data);
                    if (offset == DemoPciDevice.BuffOffset && size == DemoPciDevice.BuffSize)
                        buff = (uint)value;
                    break;
                case 2:
                    if (Read(device, context, offset, data, buff) is { } readFailed)
                        return readFailed;
                    break;
                case 3:
                    device.Reset();
                    context.Emit(TraceEventKind.DeviceResult, 0, 0, 0, default);
                    buff = 0;
                    break;
                default:
                    if (ConfigAccess(device, context, raw, kind, size, value) is { } configFailed)
                        return configFailed;
                    break;
            }
        }
        return FuzzOutcome.Completed;
    }

    /// <summary>Op 2: a BAR0 read, which must return buff for the 4-byte access at its offset and all ones elsewhere;
    /// the finding's outcome when it does not, else null.</summary>
    private FuzzOutcome? Read(DemoPciDevice device, FuzzContext context, ulong offset, Span<byte> data, uint buff)
    {
        int size = data.Length;
        device.Read(BusKind.Mmio, offset, data);
        context.Emit(TraceEventKind.MmioRead, 0, offset, (ulong)size, data);
        Span<byte> expect = _expect.AsSpan(0, size);
        if (offset == DemoPciDevice.BuffOffset && size == DemoPciDevice.BuffSize)
            BinaryPrimitives.WriteUInt32LittleEndian(expect, buff);
        else
            expect.Fill(0xFF);
        if (!data.SequenceEqual(expect))
            return Fail(
                context,
                "demo-pci/mmio-read",
                $"BAR0 read of {size} bytes at 0x{offset:x} returned {Convert.ToHexString(data)}, the "
                    + $"model says {Convert.ToHexString(expect)} (seed 000: only a 4-byte access at "
                    + "offset 0 reaches buff)"
            );
        return null;
    }

    /// <summary>Ops 4 and up: a PCI configuration write (kind bit 2) at an aligned register, then a read of the
    /// vendor/device id, which must not have changed; the finding's outcome when it did, else null.</summary>
    private FuzzOutcome? ConfigAccess(
        DemoPciDevice device,
        FuzzContext context,
        uint raw,
        int kind,
        int size,
        ulong value
    )
    {
        int reg = (int)(raw & 0xff);
        int width = Math.Min(size, 4);
        reg &= ~(width - 1);
        if ((kind & 4) != 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_data, value);
            device.ConfigWrite(reg, _data.AsSpan(0, width));
            context.Emit(TraceEventKind.PioOut, 1, (ulong)reg, (ulong)width, _data.AsSpan(0, width));
        }
        Span<byte> id = _expect.AsSpan(0, 4);
        device.ConfigRead(0, id);
        context.Emit(TraceEventKind.PioIn, 1, 0, 4, id);
        if (
            BinaryPrimitives.ReadUInt32LittleEndian(id)
            != ((uint)DemoPciDevice.DeviceIdDemo << 16 | DemoPciDevice.VendorIdQemu)
        )
        {
            return Fail(
                context,
                "demo-pci/id-registers-changed",
                $"config write of {width} bytes at 0x{reg:x2} changed the read-only vendor/device id to "
                    + $"0x{BinaryPrimitives.ReadUInt32LittleEndian(id):x8} (PCI 3.0 §6.2.1)"
            );
        }
        return null;
    }

    private static FuzzOutcome Fail(FuzzContext context, string site, string message)
    {
        context.Report(Oracle, site, message);
        return FuzzOutcome.Completed;
    }
}
