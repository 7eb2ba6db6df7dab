using System.Buffers.Binary;

namespace Virtsim.Fuzz.Glue;

/// <summary>
/// The 4-byte word exchange of AFL++'s fork-server pipes (under libFuzzer SharpFuzz's runner does its own):
/// control words in, status words out, little-endian (host order on every platform .NET runs this on). One
/// reusable buffer, so serving a run allocates nothing; pipe trouble comes back as an error string, because the
/// peer going away is how the protocol ends, not a bug here.
/// </summary>
internal sealed class GlueWordPipe
{
    private const int WordBytes = 4;

    private readonly Stream _control;
    private readonly Stream _status;
    private readonly byte[] _word = new byte[WordBytes];

    public GlueWordPipe(Stream control, Stream status)
    {
        _control = control;
        _status = status;
    }

    /// <summary>Reads one control word. False ends the serve loop: with <paramref name="error"/> null when the peer
    /// closed the pipe between words (the fuzzer is done), else with <c>control pipe closed
    /// mid-</c><paramref name="part"/>.</summary>
    public bool TryReadWord(string part, out uint word, out string? error)
    {
        int got = _control.ReadAtLeast(_word, WordBytes, throwOnEndOfStream: false);
        if (got < WordBytes)
        {
            word = 0;
            error = got == 0 ? null : $"control pipe closed mid-{part} ({got} of {WordBytes} bytes)";
            return false;
        }
        word = BinaryPrimitives.ReadUInt32LittleEndian(_word);
        error = null;
        return true;
    }

    /// <summary>Writes one status word and flushes it, so the peer, blocked on its read, sees it now.</summary>
    public bool TryWrite(uint value, out string? error)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_word, value);
        try
        {
            _status.Write(_word);
            _status.Flush();
            error = null;
            return true;
        }
        catch (IOException e)
        {
            error = "status pipe closed: " + e.Message;
            return false;
        }
    }
}
