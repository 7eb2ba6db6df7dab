using Sim.Scenarios;
using Xunit;

namespace Virtsim.Cli.Tests.Scenarios;

/// <summary>
/// One folder per catalogue entry (docs/adding-a-device.md): <c>src/Devices/&lt;name&gt;/</c> holds the device's own
/// sources by layer (Spec, Model, Driver, Scenario, Fuzz), and <see cref="DeviceCatalog"/> has one entry per folder.
/// tests/Tidy.Tests checks that every layer folder compiles into its project.
/// </summary>
public sealed class DeviceFolderTests
{
    public static TheoryData<string> Devices() => [.. DeviceCatalog.All.Select(d => d.Name)];

    [Fact]
    public void EveryEntry_HasAFolder_AndEveryFolderIsAnEntry()
    {
        string[] folders =
        [
            .. Directory.GetDirectories(DevicesFolder()).Select(d => Path.GetFileName(d)).Order(StringComparer.Ordinal),
        ];
        string[] entries = [.. DeviceCatalog.All.Select(d => d.Name).Order(StringComparer.Ordinal)];
        Assert.Equal(entries, folders);
    }

    [Theory]
    [MemberData(nameof(Devices))]
    public void EveryDeviceFolder_HoldsItsModelAndScenario(string device)
    {
        foreach (string layer in new[] { "Model", "Scenario" })
        {
            string dir = Path.Combine(DevicesFolder(), device, layer);
            Assert.True(
                Directory.Exists(dir) && Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories).Any(),
                $"src/Devices/{device}/{layer}/ has no source"
            );
        }
    }

    private static string DevicesFolder()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "virtsim.slnx")))
            dir = Path.GetDirectoryName(dir);
        return Path.Combine(
            dir ?? throw new InvalidOperationException("repository root (virtsim.slnx) not found"),
            "src",
            "Devices"
        );
    }
}
