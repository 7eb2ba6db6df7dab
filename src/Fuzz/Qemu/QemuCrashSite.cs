using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The site of a <c>qemu-crash</c> finding (issue 12 item 6: distinct causes stay distinct): <c>qemu/died</c> followed
/// by a stable classification of how QEMU died, read from its stderr and exit, so two different aborts no longer merge
/// into one finding. Nothing run-specific reaches the site (no addresses, pids, line numbers, paths or counts): the
/// same flaw gives the same site on every host and QEMU build of the same source.
/// <list type="bullet">
/// <item><c>qemu/died/assert/&lt;function&gt;</c>: a failed C assertion (glibc's <c>FILE:LINE: FUNCTION: Assertion
/// `EXPR' failed.</c>, then SIGABRT) or a GLib one (<c>ERROR:FILE:LINE:FUNCTION: assertion failed</c>, or
/// <c>code should not be reached</c>): the function that asserted.</item>
/// <item><c>qemu/died/hw-error</c>: QEMU's <c>hw_error</c> (<c>qemu: hardware error:</c>, then abort).</item>
/// <item><c>qemu/died/signal/&lt;NAME&gt;</c>: killed by a signal with no assertion text (SIGSEGV, SIGBUS, ...).</item>
/// <item><c>qemu/died/exit-&lt;code&gt;/&lt;message&gt;</c>: exited (<c>exit(1)</c> after <c>error_report</c>), the
/// message its last <c>qemu-system-…:</c> line printed, numbers replaced by <c>n</c>, folded to lower-case words
/// joined by <c>-</c> and cut at <see cref="MessageMax"/> characters; <c>qemu/died/exit-&lt;code&gt;</c> with no
/// such line.</item>
/// <item><c>qemu/died/unknown</c>: the pipes closed while the process had not (yet) exited.</item>
/// </list>
/// </summary>
internal static partial class QemuCrashSite
{
    /// <summary>The site family (every crash site starts with it).</summary>
    public const string Prefix = "qemu/died";

    /// <summary>Most characters of an exit message kept in the site.</summary>
    public const int MessageMax = 48;

    /// <summary>glibc's <c>__assert_fail</c> line: <c>FILE:LINE: FUNCTION: Assertion `EXPR' failed.</c> (FUNCTION is
    /// <c>__func__</c> in C, a whole signature in C++).</summary>
    [GeneratedRegex(@":\d+: (?<fn>[^:\n]+(?:::[^:\n]+)*): Assertion `", RegexOptions.CultureInvariant)]
    private static partial Regex GlibcAssert();

    /// <summary>GLib's <c>g_assertion_message</c>: <c>ERROR:FILE:LINE:FUNCTION: assertion failed</c> (g_assert), or
    /// <c>…: code should not be reached</c> (g_assert_not_reached).</summary>
    [GeneratedRegex(@"ERROR:[^:\n]*:\d+:(?<fn>[A-Za-z_][A-Za-z0-9_]*):", RegexOptions.CultureInvariant)]
    private static partial Regex GlibAssert();

    /// <summary>A message line of QEMU's <c>error_report</c>: the program's name, a colon, the text.</summary>
    [GeneratedRegex(@"^qemu(?:-system-[A-Za-z0-9_]+)?: (?<msg>.+)$", RegexOptions.CultureInvariant)]
    private static partial Regex ErrorLine();

    /// <summary>What the exit description says (<see cref="QemuMachine.ExitDescription"/>).</summary>
    [GeneratedRegex(@"^(?:killed by signal (?<sig>\d+)|exit code (?<code>\d+))$", RegexOptions.CultureInvariant)]
    private static partial Regex Exit();

    /// <summary>The site for a QEMU that died with <paramref name="stderr"/> (its tail) and
    /// <paramref name="exitDescription"/> (<c>exit code N</c>, <c>killed by signal N</c>, <c>running</c>, or <c>not
    /// started</c>).</summary>
    public static string Classify(string stderr, string exitDescription)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        ArgumentNullException.ThrowIfNull(exitDescription);
        // An assertion names its cause; the SIGABRT that follows it says nothing more. The last one counts (the tail
        // may start with an older line cut in half).
        string? function = LastFunction(GlibcAssert().Matches(stderr)) ?? LastFunction(GlibAssert().Matches(stderr));
        if (function is not null)
            return Prefix + "/assert/" + function;
        if (stderr.Contains("hardware error:", StringComparison.Ordinal))
            return Prefix + "/hw-error";
        Match exit = Exit().Match(exitDescription.Trim());
        if (exit.Success && exit.Groups["sig"].Success)
            return Prefix + "/signal/" + SignalName(exit.Groups["sig"].Value);
        if (exit.Success)
        {
            string site = Prefix + "/exit-" + exit.Groups["code"].Value;
            return LastMessage(stderr) is { Length: > 0 } message ? site + "/" + message : site;
        }
        return Prefix + "/unknown";
    }

    /// <summary>The last match's function, reduced to its identifier (a C++ signature <c>void ns::f(int)</c> gives
    /// <c>ns::f</c>), or null.</summary>
    private static string? LastFunction(MatchCollection matches)
    {
        if (matches.Count == 0)
            return null;
        string fn = matches[^1].Groups["fn"].Value;
        int paren = fn.IndexOf('(', StringComparison.Ordinal);
        if (paren >= 0)
            fn = fn[..paren];
        int space = fn.LastIndexOf(' ');
        if (space >= 0)
            fn = fn[(space + 1)..];
        fn = fn.TrimStart('*', '&');
        var sb = new StringBuilder(fn.Length);
        foreach (char c in fn)
        {
            if (char.IsAsciiLetterOrDigit(c) || c is '_' or ':')
                sb.Append(c);
        }
        return sb.Length > 0 ? sb.ToString() : null;
    }

    /// <summary>The last <c>qemu-system-…: message</c> line of <paramref name="stderr"/>, normalised (numbers to
    /// <c>n</c>, lower-case words joined by <c>-</c>, at most <see cref="MessageMax"/> characters), or null.</summary>
    private static string? LastMessage(string stderr)
    {
        string? last = null;
        foreach (string line in stderr.Split('\n'))
        {
            Match m = ErrorLine().Match(line.TrimEnd('\r'));
            if (m.Success)
                last = m.Groups["msg"].Value;
        }
        if (last is null)
            return null;
        var sb = new StringBuilder(MessageMax);
        bool gap = false;
        for (int i = 0; i < last.Length && sb.Length < MessageMax; i++)
        {
            char c = last[i];
            if (char.IsAsciiDigit(c) && (i == 0 || !char.IsAsciiLetter(last[i - 1])))
            {
                // A number (decimal or 0x-hex) is run-specific: one 'n' for all of it (digits inside a word, as in
                // virtio9p, stay).
                while (i + 1 < last.Length && (char.IsAsciiHexDigit(last[i + 1]) || last[i + 1] is 'x' or 'X'))
                    i++;
                c = 'n';
            }
            if (char.IsAsciiLetterOrDigit(c))
            {
                if (gap && sb.Length > 0)
                    sb.Append('-');
                sb.Append(char.ToLowerInvariant(c));
                gap = false;
            }
            else
            {
                gap = true;
            }
        }
        return sb.ToString().TrimEnd('-');
    }

    /// <summary>The POSIX name of Linux signal <paramref name="number"/> (x86), or <c>SIG</c> and the number.</summary>
    private static string SignalName(string number) =>
        number switch
        {
            "4" => "SIGILL",
            "5" => "SIGTRAP",
            "6" => "SIGABRT",
            "7" => "SIGBUS",
            "8" => "SIGFPE",
            "9" => "SIGKILL",
            "11" => "SIGSEGV",
            "13" => "SIGPIPE",
            "15" => "SIGTERM",
            _ => "SIG"
                + int.Parse(number, NumberStyles.None, CultureInfo.InvariantCulture)
                    .ToString(CultureInfo.InvariantCulture),
        };
}
