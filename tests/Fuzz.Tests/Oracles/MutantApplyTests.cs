using Virtsim.Fuzz.Instrumentation;
using Virtsim.Fuzz.Mutants;
using Xunit;

namespace Fuzz.Tests.Oracles;

/// <summary>
/// A written mutant must be a valid assembly the instrumenter can read: widening a one-byte <c>ldc.i4.1</c> to the
/// five-byte <c>ldc.i4 2</c> (or inserting pops) pushed a short branch of <c>DriverQueue.TryAdd</c> past its
/// signed-byte reach, Cecil wrote a truncated offset, and SharpFuzz failed on the branch to nowhere
/// (<c>ArgumentNullException</c> in <c>FindInstrumentationTargets</c>): the mutation sample counted it as a harness
/// error, not a result.
/// </summary>
public sealed class MutantApplyTests
{
    [Fact]
    public void WidenedConstants_InAMethodWithShortBranches_StillInstrument()
    {
        IlMutant[] mutants = IlMutator
            .EnumerateAll(AppContext.BaseDirectory)
            .Where(m =>
                m.Method.StartsWith("Sim.Guest.Virtio.DriverQueue::TryAdd", StringComparison.Ordinal)
                && m.Operator is MutationOperator.ConstantPlusOne or MutationOperator.RemoveVoidCall
            )
            .ToArray();
        Assert.True(mutants.Length >= 10, $"only {mutants.Length} mutants of DriverQueue.TryAdd*");
        string guest = Path.Combine(AppContext.BaseDirectory, "Sim.Guest.dll");
        string dir = Directory.CreateTempSubdirectory("virtsim-mutant-apply-").FullName;
        try
        {
            foreach (IlMutant mutant in mutants)
            {
                string mutated = Path.Combine(dir, $"m{mutant.Id}.dll");
                using (FileStream output = File.Create(mutated))
                    IlMutator.Apply(guest, mutant, output);
                string instrumented = Path.Combine(dir, $"i{mutant.Id}.dll");
                Exception? failure = Record.Exception(() => SharpFuzzInstrumenter.Instrument(mutated, instrumented));
                Assert.True(failure is null, $"{mutant}: {failure}");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
