using System.IO.Pipes;

namespace Fuzz.Tests.Glue;

/// <summary>An in-process one-way pipe: <see cref="Writer"/> feeds <see cref="Reader"/>, as the fds between
/// afl-fuzz and its fork server do.</summary>
internal sealed class PipePair : IDisposable
{
    public PipePair()
    {
        var server = new AnonymousPipeServerStream(PipeDirection.Out);
        Writer = server;
        Reader = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
    }

    public Stream Writer { get; }

    public Stream Reader { get; }

    public void Dispose()
    {
        Writer.Dispose();
        Reader.Dispose();
    }
}
