using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Sim.Kvm.Tests")]
