using Virtsim.Fuzz.Engine;
using Virtsim.Fuzz.Targets;
using Xunit;

namespace Fuzz.Tests.Ci;

/// <summary>The committed seed corpora (<c>corpus/&lt;target&gt;/</c>) hold exactly what each target's
/// <see cref="IFuzzTarget.SeedCorpus"/> generates. Regenerate after changing a generator with
/// <c>VIRTSIM_REGEN_CORPUS=1 dotnet test tests/Fuzz.Tests --filter SeedCorpusTests</c>.</summary>
public sealed class SeedCorpusTests
{
    [Fact]
    public void CommittedCorpus_MatchesTheGenerators()
    {
        string root = RepositoryRoot();
        bool regenerate = Environment.GetEnvironmentVariable("VIRTSIM_REGEN_CORPUS") == "1";
        foreach (IFuzzTarget target in FuzzTargets.All)
        {
            string directory = Path.Combine(root, "corpus", target.Name);
            var expected = target
                .SeedCorpus()
                .DistinctBy(s => CorpusDirectory.ContentName(s))
                .ToDictionary(s => CorpusDirectory.ContentName(s), s => s, StringComparer.Ordinal);
            if (regenerate)
            {
                if (Directory.Exists(directory))
                    Directory.Delete(directory, recursive: true);
                Directory.CreateDirectory(directory);
                foreach ((string name, byte[] bytes) in expected)
                    File.WriteAllBytes(Path.Combine(directory, name), bytes);
            }
            Assert.True(Directory.Exists(directory), $"missing {directory}");
            string[] files =
            [
                .. Directory
                    .GetFiles(directory)
                    .Select(Path.GetFileName)
                    .OfType<string>()
                    .Order(StringComparer.Ordinal),
            ];
            Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), files);
            foreach (string f in files)
                Assert.Equal(expected[f], File.ReadAllBytes(Path.Combine(directory, f)));
        }
    }

    private static string RepositoryRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "virtsim.slnx")))
            dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root (virtsim.slnx) not found");
    }
}
