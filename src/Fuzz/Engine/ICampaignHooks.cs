using Virtsim.Fuzz.Oracles;

namespace Virtsim.Fuzz.Engine;

/// <summary>What a campaign worker (<see cref="Workers.CampaignWorker"/>) adds to <see cref="FuzzCampaign"/>: the
/// queue, crash and stats files of AFL++'s sync layout, imports from other workers, and a stop on signal.</summary>
internal interface ICampaignHooks
{
    /// <summary>An input joined the corpus; <paramref name="newEdges"/> when it raised the edge count (not only a
    /// new hit-count bucket).</summary>
    void CorpusAdded(byte[] input, bool newEdges);

    /// <summary>A finding fired for the first time in this run; <paramref name="known"/> when an earlier run or
    /// another worker already saved it. <paramref name="original"/> is the input as found.</summary>
    void FindingAdded(Finding finding, byte[] original, bool known);

    /// <summary>Called after every mutation-loop execution; false stops the campaign. Keep it cheap.</summary>
    bool BetweenExecutions(FuzzCampaign campaign);

    /// <summary>An input just showed new coverage (<paramref name="map"/>); a worker may rerun it to measure
    /// stability. Runs before the input joins the corpus.</summary>
    void CheckStability(FuzzExecutor executor, ReadOnlySpan<byte> input, ReadOnlySpan<byte> map);
}
