using Virtsim.Fuzz.Workers;

namespace Virtsim.Fuzz.Entry;

/// <summary>A parsed <c>virtsim fuzz</c> command: the mode and its options, and the campaign options of
/// <c>run -o</c> and <c>worker</c>.</summary>
public sealed record FuzzInvocation(FuzzOptions Options, CampaignArgs Campaign)
{
    /// <summary>The subcommand, <see cref="FuzzOptions.Mode"/>.</summary>
    public FuzzMode Mode => Options.Mode;

    /// <summary>True for <c>fuzz run -o DIR</c>: the supervisor of a campaign (Virtsim.Fuzz.Campaign runs
    /// it).</summary>
    public bool IsSupervisor => Mode == FuzzMode.Run && Campaign.Output is not null;
}
