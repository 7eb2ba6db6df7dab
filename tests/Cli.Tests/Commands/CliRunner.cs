namespace Virtsim.Cli.Tests.Commands;

/// <summary>Runs the virtsim command in-process and captures its output.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = new CliApp(output, error).Run(args);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>A fresh temporary directory, deleted by the returned scope.</summary>
    public static TempDir TempDir() =>
        new(
            Path.Combine(
                Path.GetTempPath(),
                "virtsim-cli-" + Environment.ProcessId + "-" + Interlocked.Increment(ref _counter)
            )
        );

    private static int _counter;
}

internal sealed class TempDir : IDisposable
{
    public TempDir(string path)
    {
        Path = path;
        Directory.CreateDirectory(path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
