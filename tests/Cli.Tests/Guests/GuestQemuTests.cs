using System.Buffers.Binary;
using Sim.Machine.Scenarios;
using Sim.Scenarios;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Guests;

/// <summary>
/// The guest programs on QEMU's software CPU (qemu-system-i386 -kernel boots the images through their Multiboot
/// header), against QEMU's own virtio-blk: a second, independent device implementation. The console (port 0xE9) is
/// QEMU's debugcon; the end of run (port 0xF4) is isa-debug-exit, whose exit code is 2 × status + 1. The parameter
/// block is put at 0x1000 by QEMU's loader device. The blk device sits in slot 5, where QEMU's PIIX swizzle
/// (pci_slot_get_pirq: slot − 1 + pin) and the simulated PciIntxRouter's (slot + pin − 1) give the same GSI.
/// </summary>
public sealed class GuestQemuTests(ITestOutputHelper output) : IDisposable
{
    private const int QemuTimeoutMs = 240_000;
    private const int DiskBytes = 1 << 20; // the blk scenario's default size
    private const string Serial = "virtsim-blk0"; // BlkDeviceOptions.Serial: what GET_ID returns in the simulation

    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-guest-qemu-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Image(string name) => Path.Combine(GuestTools.BuiltDir, name + ".bin");

    /// <summary>rt/rt.h struct rt_params: magic, version, transport, irq, requests, flags, seed, arg[8].</summary>
    private string Params(
        uint transport = uint.MaxValue,
        uint irq = uint.MaxValue,
        uint requests = 0,
        ulong seed = 0,
        params uint[] args
    )
    {
        var block = new byte[64];
        uint[] words =
        [
            0x5047_5356,
            1,
            transport,
            irq,
            requests,
            0,
            unchecked((uint)seed),
            (uint)(seed >> 32),
            .. Enumerable.Repeat(uint.MaxValue, 8),
        ];
        args.CopyTo(words, 8);
        for (int i = 0; i < 16; i++)
            BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4 * i), words[i]);
        string path = Path.Combine(_dir, $"params-{Guid.CreateVersion7():N}.bin");
        File.WriteAllBytes(path, block);
        return path;
    }

    private string Disk()
    {
        string path = Path.Combine(_dir, "disk.img");
        File.WriteAllBytes(path, new byte[DiskBytes]);
        return path;
    }

    /// <summary>Runs <paramref name="image"/>; returns the guest's status and console lines.</summary>
    private (int Status, string[] Lines) Qemu(string image, string? paramsFile, params string[] devices)
    {
        List<string> args =
        [
            "-M",
            "pc",
            "-accel",
            "tcg",
            "-m",
            "32",
            "-display",
            "none",
            "-no-reboot",
            "-nic",
            "none",
            "-serial",
            "none",
            "-monitor",
            "none",
            "-kernel",
            image,
            "-debugcon",
            "stdio",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=4",
        ];
        if (paramsFile != null)
            args.AddRange(["-device", $"loader,file={paramsFile},addr=0x1000,force-raw=on"]);
        args.AddRange(devices);
        var (code, stdout, stderr) = GuestTools.Run(GuestTools.Qemu, args, null, QemuTimeoutMs, output);
        Assert.True(code % 2 == 1, $"QEMU ended without the guest's end of run (exit {code}): {stderr}");
        return (code / 2, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private string[] BlkDevice(bool modern, bool legacy) =>
        [
            "-drive",
            $"if=none,id=d0,file={Disk()},format=raw",
            "-device",
            $"virtio-blk-pci,drive=d0,serial={Serial},addr=5,disable-modern={(modern ? "off" : "on")},"
                + $"disable-legacy={(legacy ? "off" : "on")}",
        ];

    [GuestQemuFact]
    public void Selftest_PrintsOkAndExitsZero()
    {
        var (status, lines) = Qemu(Image("selftest"), null);
        Assert.Equal(0, status);
        Assert.Contains("selftest: 5 interrupts on GSI 24", lines);
        Assert.Equal("selftest: OK", lines[^1]);
    }

    /// <summary>The blk guest on QEMU's virtio-blk prints, line for line, what the simulated blk scenario's guest
    /// prints for the same seed: the same PRNG stream picks the same sectors, and both devices answer alike.</summary>
    [GuestQemuFact]
    public void Blk_OnQemuVirtioBlk_PrintsWhatTheSimulatedScenarioPrints()
    {
        const ulong seed = 5;
        ScenarioRun run = ScenarioCatalog.Find("blk")!.Create(new ScenarioOptions(seed));
        run.Run();
        string[] simulated = [.. run.ReportLines().TakeWhile(l => !l.StartsWith("device:", StringComparison.Ordinal))];
        Assert.Equal(9, simulated.Length); // capacity, get_id, 4 writes, flush, out of range, done

        var (status, lines) = Qemu(Image("blk"), Params(seed: seed), BlkDevice(modern: true, legacy: true));
        Assert.Equal(0, status);
        Assert.Equal(simulated, lines);
    }

    [GuestQemuFact]
    public void Blk_ModernMsix_AndLegacyIntx_BothPass()
    {
        string image = Image("blk");
        var (modern, modernLines) = Qemu(
            image,
            Params(transport: 0, irq: 0, requests: 3, seed: 9, args: 8),
            BlkDevice(modern: true, legacy: false)
        );
        Assert.Equal(0, modern);
        Assert.Equal("blk: done, 9 requests, 0 mismatches, 0 failures", modernLines[^1]);
        Assert.Contains(modernLines, l =>
            l.Contains(" x8: OK len=1; read back: OK len=4097 match", StringComparison.Ordinal)
        );
        var (legacy, legacyLines) = Qemu(image, null, BlkDevice(modern: false, legacy: true));
        Assert.Equal(0, legacy);
        Assert.Equal("blk: done, 11 requests, 0 mismatches, 0 failures", legacyLines[^1]);
    }

    /// <summary>The stress guest's ring code (EVENT_IDX, indirect tables, several chains in flight completing in any
    /// order, a 16-entry ring wrapped many times) against QEMU's virtio-blk, modern and legacy.</summary>
    [GuestQemuFact]
    public void Stress_OnQemuVirtioBlk_ChecksEveryResponse()
    {
        string image = Image("stress");
        var (status, lines) = Qemu(
            image,
            Params(requests: 800, args: [16, 5, uint.MaxValue, 1]),
            BlkDevice(modern: true, legacy: false)
        );
        Assert.Equal(0, status);
        Assert.StartsWith(
            "stress: virtio-blk, 800 requests, queue size 16, 5 in flight, event_idx 1, indirect 1, transport "
                + "modern, irq msix",
            lines[0],
            StringComparison.Ordinal
        );
        // Which slot's write or read goes next depends on the order QEMU completes them; the totals do not.
        Assert.Contains(lines, l =>
            l.StartsWith("stress: completed 800 of 800 (", StringComparison.Ordinal)
            && l.Contains(", indirect 400)", StringComparison.Ordinal)
        );
        Assert.Equal("stress: OK", lines[^1]);

        var (legacy, legacyLines) = Qemu(
            image,
            Params(transport: 1, irq: 1, requests: 400, args: [uint.MaxValue, 4, 1, 1]),
            BlkDevice(modern: false, legacy: true)
        );
        Assert.Equal(0, legacy);
        Assert.Contains(legacyLines, l =>
            l.Contains("event_idx 0, indirect 0, transport legacy, irq intx", StringComparison.Ordinal)
        );
        Assert.Equal("stress: OK", legacyLines[^1]);
    }
}
