using System.Buffers.Binary;
using Sim.Scenarios;
using Xunit;
using Xunit.Abstractions;

namespace Virtsim.Cli.Tests.Guests;

/// <summary>guest/build (docs/recording.md §2): one flat image per seed scenario plus stress and selftest, loadable at
/// 0x100000 and entered at its first byte, the same bytes on every build.</summary>
public sealed class GuestBuildTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Scenarios without a guest program: "ping" has no device model for a guest to drive, and the devices
    /// whose catalogue entry says they have no real guest yet.</summary>
    private static readonly string[] ScenariosWithoutGuest =
    [
        "ping",
        .. DeviceCatalog.All.Where(d => !d.HasRealGuest).SelectMany(d => d.Scenarios).Select(s => s.Name),
    ];

    /// <summary>Guests that are not scenarios: the stress guest (virtio-demo) and the runtime's self-test.</summary>
    private static readonly string[] ExtraGuests = ["stress", "selftest"];

    private const int BuildTimeoutMs = 300_000; // the unknown-name run
    private const uint LoadAddress = 0x10_0000;
    private const uint MultibootMagic = 0x1BAD_B002;
    private const int ImageBytesMax = 64 * 1024;

    private readonly string _dir = Directory.CreateTempSubdirectory("virtsim-guests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [GuestBuildFact]
    public void Build_MakesOneImagePerSeedScenario_AndTheSameBytesTwice()
    {
        string first = GuestTools.BuiltDir,
            second = Path.Combine(_dir, "b");
        string log = GuestTools.BuiltLog;
        GuestTools.Build(second, output);
        string[] expected = [.. ScenarioCatalog.All.Select(s => s.Name).Except(ScenariosWithoutGuest), .. ExtraGuests];
        string[] built = [.. Directory.GetFiles(first).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
        Assert.Equal(expected.Select(n => n + ".bin").Order(StringComparer.Ordinal), built);
        foreach (string name in expected)
        {
            byte[] a = File.ReadAllBytes(Path.Combine(first, name + ".bin"));
            byte[] b = File.ReadAllBytes(Path.Combine(second, name + ".bin"));
            Assert.True(a.AsSpan().SequenceEqual(b), $"{name}: two builds differ");
            Assert.Contains($"guest/build: {name} ", log, StringComparison.Ordinal);
            output.WriteLine($"{name}: {a.Length} bytes");
        }
        // vhost-demo is the virtio-demo guest: the same driver and test program serve both backends.
        Assert.Equal(
            File.ReadAllBytes(Path.Combine(first, "virtio-demo.bin")),
            File.ReadAllBytes(Path.Combine(first, "vhost-demo.bin"))
        );
    }

    [GuestBuildFact]
    public void Images_AreEnteredAtTheirFirstByte_AndCarryTheirLoadAddresses()
    {
        foreach (string path in Directory.GetFiles(GuestTools.BuiltDir))
        {
            byte[] image = File.ReadAllBytes(path);
            string name = Path.GetFileName(path);
            Assert.InRange(image.Length, 64, ImageBytesMax);
            Assert.Equal(0xFA, image[0]); // cli: the first instruction, where the VMM enters
            // Multiboot 0.6.96 §3.1.1: magic, flags (bit 16: the address fields), checksum, then §3.1.3's addresses.
            ReadOnlySpan<byte> h = image.AsSpan(4);
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(h);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(h[4..]);
            uint checksum = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
            Assert.Equal(MultibootMagic, magic);
            Assert.Equal(0x1_0000u, flags);
            Assert.Equal(0u, unchecked(magic + flags + checksum));
            Assert.Equal(LoadAddress + 4, BinaryPrimitives.ReadUInt32LittleEndian(h[12..])); // header_addr
            Assert.Equal(LoadAddress, BinaryPrimitives.ReadUInt32LittleEndian(h[16..])); // load_addr
            // Load_end_addr.
            Assert.Equal(LoadAddress + (uint)image.Length, BinaryPrimitives.ReadUInt32LittleEndian(h[20..]));
            Assert.True(
                BinaryPrimitives.ReadUInt32LittleEndian(h[24..]) >= LoadAddress + (uint)image.Length,
                name + ": bss ends before the image"
            );
            Assert.Equal(LoadAddress, BinaryPrimitives.ReadUInt32LittleEndian(h[28..])); // entry_addr
        }
    }

    [GuestBuildFact]
    public void Build_UnknownGuest_ExitsTwoAndNamesTheKnownOnes()
    {
        var (code, _, stderr) = GuestTools.Run(
            Path.Combine(GuestTools.RepoRoot, "guest", "build"),
            ["no-such-guest"],
            new Dictionary<string, string> { ["GUEST_OUT"] = Path.Combine(_dir, "x") },
            BuildTimeoutMs,
            output
        );
        Assert.Equal(2, code);
        Assert.Contains("unknown guest 'no-such-guest'", stderr, StringComparison.Ordinal);
        Assert.Contains("virtio-demo", stderr, StringComparison.Ordinal);
    }
}
