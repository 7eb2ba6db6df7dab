using System.Runtime.CompilerServices;

// The public surface is what the CLI, the campaign supervisor and the lab agent use; the tests and the benchmarks reach
// the fuzzer's internals (targets, oracles, mutators, the QEMU rigs) directly.
[assembly: InternalsVisibleTo("Fuzz.Tests")]
[assembly: InternalsVisibleTo("Virtsim.Cli.Tests")]
[assembly: InternalsVisibleTo("Sim.Bench")]
