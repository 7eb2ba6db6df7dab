namespace Sim.Machine.Kvm;

/// <summary>One KVM_IOEVENTFD registration: a guest write to (Bus, Address) of Length bytes (0 =
/// any length) whose value equals DataMatch (unless Wildcard) signals Fd inside KVM.</summary>
internal sealed record IoEventFdBinding(
    BusKind Bus,
    ulong Address,
    int Length,
    bool Wildcard,
    ulong DataMatch,
    EventFd Fd
)
{
    /// <summary>Linux ioeventfd_in_range: the address must be exact; length 0 matches any write;
    /// otherwise the length must agree and, with DATAMATCH, the written value (zero-extended)
    /// must equal the datamatch.</summary>
    public bool Matches(ulong address, int length, ulong value) =>
        address == Address && (Length == 0 || (length == Length && (Wildcard || value == DataMatch)));

    /// <summary>Linux ioeventfd_check_collision: same bus and address, and either side any-length, or
    /// same length with either side wildcard or equal datamatch.</summary>
    public bool CollidesWith(IoEventFdBinding other) =>
        Bus == other.Bus
        && Address == other.Address
        && (
            Length == 0
            || other.Length == 0
            || (Length == other.Length && (Wildcard || other.Wildcard || DataMatch == other.DataMatch))
        );
}
