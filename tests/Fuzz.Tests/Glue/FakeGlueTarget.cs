using Virtsim.Fuzz.Glue;
using Virtsim.Fuzz.Oracles;

namespace Fuzz.Tests.Glue;

/// <summary>A glue target whose behaviour is readable from its input: it marks map entry <c>input[i]</c> for
/// every byte (so each input leaves a known map), and an input starting with 0xFF "fires".</summary>
internal sealed class FakeGlueTarget : IGlueTarget
{
    private readonly byte[] _map = new byte[1 << 16];

    public int Runs { get; private set; }

    public GlueVerdict Run(ReadOnlySpan<byte> input)
    {
        Runs++;
        Array.Clear(_map);
        foreach (byte b in input) _map[1000 + b]++;
        return input.Length > 0 && input[0] == 0xFF
            ? GlueVerdict.From(new FindingReport("fake", "first-byte", "input starts with 0xFF", null))
            : GlueVerdict.Ok;
    }

    public ReadOnlySpan<byte> Map => _map;
}
