using Xunit;

namespace Tidy.Tests;

/// <summary>Each device's sources live in one folder, src/Devices/(device)/, split by layer; each layer folder
/// is compiled by a glob in its project's csproj (docs/adding-a-device.md). These hold that arrangement: a file
/// outside the layer folders would compile into nothing, and a project that lost its glob would drop its devices'
/// files.</summary>
public class DeviceFolderTests
{
    [Fact]
    public void Every_device_source_is_in_a_layer_folder()
    {
        var deviceFiles = SourceTree
            .CSharpFiles()
            .Where(f => f.StartsWith(SourceTree.DevicesFolder, StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(deviceFiles);
        var stray = deviceFiles.Where(f => SourceTree.ProjectOf(f) is null).ToList();
        Assert.True(
            stray.Count == 0,
            "tidy: these files are in no layer folder ("
                + string.Join(", ", SourceTree.DeviceLayers.Keys)
                + "), so no project compiles them:\n"
                + string.Join('\n', stray)
        );
    }

    [Fact]
    public void Every_layer_folder_is_compiled_by_its_project()
    {
        foreach (var (layer, project) in SourceTree.DeviceLayers)
        {
            var csproj = SourceTree.Read($"src/{project}/{project}.csproj");
            var glob = $"<Compile Include=\"../Devices/*/{layer}/**/*.cs\" />";
            Assert.True(csproj.Contains(glob, StringComparison.Ordinal), $"tidy: src/{project} lacks {glob}");
        }
    }

    [Theory]
    [InlineData("src/Sim.Devices/Virtio/Queue/SplitQueue.cs", "Sim.Devices")]
    [InlineData("src/Devices/virtio-rng/Spec/RngSpec.cs", "Sim.Spec")]
    [InlineData("src/Devices/virtio-rng/Model/VirtioRngDevice.cs", "Sim.Devices")]
    [InlineData("src/Devices/virtio-rng/Driver/VirtioRngDriver.cs", "Sim.Guest")]
    [InlineData("src/Devices/virtio-rng/Scenario/RngScenario.cs", "Sim.Scenarios")]
    [InlineData("src/Devices/virtio-rng/Fuzz/VirtioRngQemuTarget.cs", "Fuzz")]
    [InlineData("src/Devices/virtio-rng/RngStray.cs", null)]
    [InlineData("tests/Tidy.Tests/TidyTests.cs", null)]
    public void ProjectOf_maps_device_layers_to_their_projects(string file, string? project) =>
        Assert.Equal(project, SourceTree.ProjectOf(file));

    [Fact]
    public void Narrowing_cast_check_reads_the_device_folders() =>
        // Simulation_projects_have_no_bare_narrowing_cast selects files by ProjectOf: the device models are among them.
        Assert.Contains(SourceTree.CSharpFiles(), f =>
            f.StartsWith(SourceTree.DevicesFolder, StringComparison.Ordinal)
            && SourceTree.ProjectOf(f) is { } p
            && NarrowingCasts.CheckedProjects.Contains(p)
        );
}
