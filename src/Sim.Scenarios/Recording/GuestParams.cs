using System.Buffers.Binary;
using Sim.Engine;
using Sim.Machine.Scenarios;

namespace Sim.Scenarios.Recording;

/// <summary>
/// The parameter block a real guest reads at GPA 0x1000 (guest/rt/rt.h struct rt_params): magic "VSGP", version
/// 1, transport, irq, requests, flags, seed, eight guest-specific words. Built from the scenario options so a
/// recording's guest runs the configuration its header names; a word the options leave open is
/// <see cref="Default"/> (the guest's own default).
/// </summary>
public static class GuestParams
{
    /// <summary>"VSGP" as a little-endian word: the block's first word.</summary>
    public const uint Magic = 0x5047_5356; // "VSGP" little-endian

    /// <summary>The block layout version this writes.</summary>
    public const uint Version = 1;

    /// <summary>A word the guest replaces with its own default.</summary>
    public const uint Default = 0xFFFF_FFFF;

    /// <summary>Byte offset of arg[0] and the number of args.</summary>
    public const int ArgOffset = 8 * 4;

    /// <summary>How many guest-specific words there are.</summary>
    public const int ArgCount = 8;

    /// <summary>Bytes of the block: 8 words then arg[8].</summary>
    public const int Size = 16 * 4;

    /// <summary>The block for <paramref name="scenario"/> with <paramref name="options"/> (scenario option names:
    /// transport, irq, requests/ticks/writes, dmesg, n for factorial, sectors for blk,
    /// the stress guest keeps its own defaults for the rest). Throws <see cref="ArgumentException"/> for a malformed
    /// value.</summary>
    public static byte[] Build(string scenario, ScenarioOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var words = new uint[16];
        Array.Fill(words, Default);
        words[0] = Magic;
        words[1] = Version;
        words[2] = options.GetString("transport", "") switch
        {
            "modern" => 0,
            "legacy" => 1,
            "" => Default,
            var t => throw new ArgumentException($"option 'transport' must be modern or legacy, not '{t}'"),
        };
        words[3] = options.GetString("irq", "") switch
        {
            "msix" => 0,
            "intx" => 1,
            "" => Default,
            var t => throw new ArgumentException($"option 'irq' must be msix or intx, not '{t}'"),
        };
        string countKey = scenario switch
        {
            "counter" => "ticks",
            "blk" => "writes",
            _ => "requests",
        };
        words[4] = Narrow.LowUInt32(options.GetInt64(countKey, 0, 0, uint.MaxValue - 1L));
        words[5] = options.GetBool("dmesg", false) ? 1u : 0u;
        words[6] = Narrow.LowUInt32(options.Seed);
        words[7] = Narrow.LowUInt32(options.Seed >> 32);
        switch (scenario)
        {
            case "factorial" when options.Named.ContainsKey("n"):
                uint[] n = Scenarios.FactorialScenario.ParseArguments(options.GetString("n", ""));
                if (n.Length > 7)
                    throw new ArgumentException("option 'n': a real guest takes at most 7 values");
                words[8] = Narrow.AsUInt32Bits(n.Length);
                n.CopyTo(words, 9);
                break;
            case "blk":
                if (options.Named.ContainsKey("sectors"))
                    words[8] = Narrow.LowUInt32(options.GetInt64("sectors", 2, 1, 128));
                break;
        }
        var bytes = new byte[Size];
        for (int i = 0; i < words.Length; i++)
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), words[i]);
        return bytes;
    }
}
