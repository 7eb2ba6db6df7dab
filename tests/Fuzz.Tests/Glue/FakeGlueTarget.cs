using Virtsim.Fuzz.Glue;
using Virtsim.Fuzz.Oracles;

namespace Fuzz.Tests.Glue;

/// <summary>A glue target whose behaviour is readable from its input: it marks map entry <c>input[i]</c> for
/// every byte (so each input leaves a known map), an input starting with 0xFF "fires" and one starting with 0xFE
/// "hangs" (a <see cref="FuzzOracle.Hang"/> finding).</summary>
internal sealed class FakeGlueTarget : IGlueTarget
{
    private readonly byte[] _map = new byte[1 << 16];

    public int Runs { get; private set; }

    /// <summary>The inputs run, in order.</summary>
    public List<byte[]> Inputs { get; } = [];

    public GlueVerdict Run(ReadOnlySpan<byte> input)
    {
        Runs++;
        Inputs.Add(input.ToArray());
        Array.Clear(_map);
        foreach (byte b in input)
            _map[1000 + b]++;
        return input switch
        {
            [0xFF, ..] => GlueVerdict.From(new FindingReport("fake", "first-byte", "input starts with 0xFF", null)),
            [0xFE, ..] => GlueVerdict.From(new FindingReport(FuzzOracle.Hang, "first-byte", "starts with 0xFE", null)),
            _ => GlueVerdict.Ok,
        };
    }

    public ReadOnlySpan<byte> Map => _map;
}
