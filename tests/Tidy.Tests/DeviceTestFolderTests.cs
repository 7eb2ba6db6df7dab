using System.Text.RegularExpressions;
using Xunit;

namespace Tidy.Tests;

/// <summary>Tests mirror src/ (docs/adding-a-device.md): a device's tests live in a folder named after the device in
/// each test project that has some, <c>tests/(project)/Devices/(device)/</c>, as its sources live in
/// <c>src/Devices/(device)/</c>. The rule that finds a device test outside its folder: a test file whose name starts
/// with the name of a type declared at the top level of one device's folder (<c>VirtioRngDevice</c>,
/// <c>BlkScenario</c>, …), or with a model's name less its <c>Device</c> suffix (<c>VirtioRng</c> for
/// <c>VirtioRngAvailWalkTests</c>), belongs to that device. Tests of what devices share (the transport, the queue,
/// vhost, PCI, the oracles) are named after what they test and stay in their layer's folders.</summary>
public partial class DeviceTestFolderTests
{
    /// <summary>The test projects' folder for per-device tests, under <c>tests/(project)/</c>.</summary>
    const string DevicesTestFolder = "Devices";

    /// <summary>Test files exempt from the rule: fuzz regressions are emitted by <c>virtsim fuzz</c> into one
    /// folder. (The real-QEMU tests of each device live in <c>tests/Fuzz.Tests/Devices/(name)/</c>; what the
    /// real-QEMU backends share is tested in <c>tests/Fuzz.Tests/Qemu/</c>.)</summary>
    static readonly string[] Exempt = ["tests/Fuzz.Tests/Fuzz/Regressions/"];

    [GeneratedRegex(
        @"^(?:(?:public|internal|static|sealed|abstract|readonly|partial|file|ref)\s+)*"
            + @"(?:record\s+struct|record\s+class|record|class|struct|interface|enum)\s+([A-Z]\w*)",
        RegexOptions.Multiline
    )]
    private static partial Regex TopLevelType();

    static IReadOnlyList<string> Devices() =>
        [
            .. Directory
                .GetDirectories(Path.Combine(SourceTree.Root, "src", "Devices"))
                .Select(d => Path.GetFileName(d))
                .Order(StringComparer.Ordinal),
        ];

    /// <summary>Every prefix that marks a test file as a device's: its top-level type names and its models' names
    /// less "Device", each with the one device that declares it.</summary>
    static Dictionary<string, string> DevicePrefixes()
    {
        var owner = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (
            var file in SourceTree
                .CSharpFiles()
                .Where(f => f.StartsWith(SourceTree.DevicesFolder, StringComparison.Ordinal))
        )
        {
            var device = file.Split('/')[2];
            foreach (Match m in TopLevelType().Matches(SourceTree.Read(file)))
            {
                var type = m.Groups[1].Value;
                Assert.True(
                    owner.TryAdd(type, device) || owner[type] == device,
                    $"tidy: type {type} is declared in two device folders"
                );
                if (type.EndsWith("Device", StringComparison.Ordinal) && type.Length > "Device".Length)
                    owner.TryAdd(type[..^"Device".Length], device);
            }
        }
        return owner;
    }

    /// <summary>The device a test file belongs to by its name (the longest matching prefix), or null.</summary>
    static string? OwnerOf(string testFile, Dictionary<string, string> prefixes)
    {
        var name = Path.GetFileNameWithoutExtension(testFile);
        var best = prefixes
            .Where(p => name.StartsWith(p.Key, StringComparison.Ordinal))
            .OrderByDescending(p => p.Key.Length)
            .FirstOrDefault();
        return best.Value;
    }

    static string TestProjectOf(string testFile) => testFile.Split('/')[1];

    [Fact]
    public void Every_device_has_its_test_folder_in_Sim_Devices_Tests()
    {
        var missing = Devices()
            .Where(d =>
            {
                var dir = Path.Combine(SourceTree.Root, "tests", "Sim.Devices.Tests", DevicesTestFolder, d);
                return !Directory.Exists(dir)
                    || !Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories).Any();
            })
            .ToList();
        Assert.True(
            missing.Count == 0,
            "tidy: these devices have no tests in tests/Sim.Devices.Tests/Devices/(device)/: "
                + string.Join(", ", missing)
        );
    }

    [Fact]
    public void Every_device_test_folder_names_a_device()
    {
        var devices = Devices();
        var strays = new List<string>();
        foreach (var project in Directory.GetDirectories(Path.Combine(SourceTree.Root, "tests")))
        {
            var dir = Path.Combine(project, DevicesTestFolder);
            if (!Directory.Exists(dir))
                continue;
            strays.AddRange(
                Directory
                    .GetDirectories(dir)
                    .Where(d => !devices.Contains(Path.GetFileName(d)))
                    .Select(d => Path.GetRelativePath(SourceTree.Root, d).Replace('\\', '/'))
            );
            strays.AddRange(
                Directory.GetFiles(dir).Select(f => Path.GetRelativePath(SourceTree.Root, f).Replace('\\', '/'))
            );
        }
        Assert.True(
            strays.Count == 0,
            "tidy: tests/(project)/Devices/ holds one folder per src/Devices/(device), and nothing else:\n"
                + string.Join('\n', strays)
        );
    }

    [Fact]
    public void No_device_test_lives_outside_its_device_folder()
    {
        var prefixes = DevicePrefixes();
        Assert.NotEmpty(prefixes);
        var misplaced = new List<string>();
        foreach (var file in SourceTree.CSharpFiles())
        {
            if (
                !file.StartsWith("tests/", StringComparison.Ordinal)
                || Exempt.Any(e => file.StartsWith(e, StringComparison.Ordinal))
            )
                continue;
            if (OwnerOf(file, prefixes) is not { } device)
                continue;
            var folder = $"tests/{TestProjectOf(file)}/{DevicesTestFolder}/{device}/";
            if (!file.StartsWith(folder, StringComparison.Ordinal))
                misplaced.Add($"{file} (a {device} test: move it to {folder})");
        }
        Assert.True(
            misplaced.Count == 0,
            "tidy: device tests outside their device's folder:\n" + string.Join('\n', misplaced)
        );
    }

    [Theory]
    [InlineData("tests/Sim.Devices.Tests/Devices/virtio-rng/VirtioRngAvailWalkTests.cs", "virtio-rng")]
    [InlineData("tests/Sim.Devices.Tests/Devices/virtio-blk/VirtioBlkPropertyTests.cs", "virtio-blk")]
    [InlineData("tests/Sim.Devices.Tests/Devices/virtio-demo/VhostDemoTests.cs", "virtio-demo")]
    [InlineData("tests/Cli.Tests/Devices/virtio-demo/VhostDemoScenarioTests.cs", "virtio-demo")]
    [InlineData("tests/Sim.Devices.Tests/Devices/demo-pci/DemoPciDeviceTests.cs", "demo-pci")]
    [InlineData("tests/Sim.Devices.Tests/Queue/RingIndexTests.cs", null)]
    [InlineData("tests/Sim.Devices.Tests/VhostFrontend/VhostFrontendLifecycleTests.cs", null)]
    public void OwnerOf_finds_the_device_a_test_is_named_after(string file, string? device) =>
        Assert.Equal(device, OwnerOf(file, DevicePrefixes()));
}
