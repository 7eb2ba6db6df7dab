namespace Virtsim.Fuzz.Mutants;

/// <summary>
/// One mutant of a device assembly: a single IL edit at (<see cref="Method"/>, <see cref="Offset"/>) by
/// <see cref="Operator"/>. <see cref="Area"/> groups mutants for the score (ring, device, vhost, transport). The id is
/// stable for a given assembly build: it is the index in <see cref="IlMutator.Enumerate"/>'s deterministic order.
/// </summary>
internal sealed record IlMutant(
    int Id,
    string Area,
    string Method,
    int Offset,
    MutationOperator Operator,
    string Description
)
{
    public override string ToString() => $"#{Id} [{Area}] {Operator} at {Method}+IL_{Offset:x4}: {Description}";
}
