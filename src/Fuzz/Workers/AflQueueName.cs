using System.Globalization;
using System.Text;

namespace Virtsim.Fuzz.Workers;

/// <summary>
/// AFL++'s queue and crash file names: <c>id:NNNNNN</c> (six digits, more past 999999) followed by comma-separated
/// <c>key:value</c> parts — <c>orig:&lt;seed&gt;</c>, <c>src:NNNNNN</c>, <c>sync:&lt;instance&gt;</c>, <c>time:ms</c>,
/// <c>execs:N</c>, <c>op:havoc</c>, <c>sig:06</c>, <c>+cov</c> (AFL++ afl-fuzz-bitmap.c <c>describe_op</c>). Only the
/// id is parsed back; the rest is for people.
/// </summary>
public static class AflQueueName
{
    internal const string IdPrefix = "id:";

    /// <summary>Longest name written (AFL++ limits descriptions to NAME_MAX).</summary>
    public const int NameLengthMax = 200;

    /// <summary>Composes <c>id:NNNNNN,part,part</c>, cutting it to <see cref="NameLengthMax"/> characters.</summary>
    public static string Format(int id, params string[] parts)
    {
        var s = new StringBuilder(IdPrefix).Append(id.ToString("D6", CultureInfo.InvariantCulture));
        foreach (string part in parts)
        {
            if (part.Length == 0)
                continue;
            s.Append(',').Append(Sanitise(part));
        }
        return s.Length <= NameLengthMax ? s.ToString() : s.ToString(0, NameLengthMax);
    }

    /// <summary>The id of a queue or crash file name, or false for anything else (README.txt, dot-files).</summary>
    public static bool TryParseId(string fileName, out int id)
    {
        id = -1;
        if (!fileName.StartsWith(IdPrefix, StringComparison.Ordinal))
            return false;
        int end = fileName.IndexOf(',', IdPrefix.Length);
        ReadOnlySpan<char> digits =
            end < 0 ? fileName.AsSpan(IdPrefix.Length) : fileName.AsSpan(IdPrefix.Length, end - IdPrefix.Length);
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out id);
    }

    /// <summary>True when the name says it was imported from another instance (<c>,sync:</c>).</summary>
    public static bool IsSynced(string fileName) => fileName.Contains(",sync:", StringComparison.Ordinal);

    /// <summary>Next free id in <paramref name="directory"/>: one past the largest present, 0 when none.</summary>
    public static int NextId(string directory)
    {
        if (!Directory.Exists(directory))
            return 0;
        int next = 0;
        foreach (string path in Directory.EnumerateFiles(directory))
        {
            if (TryParseId(Path.GetFileName(path), out int id) && id >= next)
                next = id + 1;
        }
        return next;
    }

    /// <summary>File names hold no '/' and no ',' inside a part (AFL++ separates parts with commas).</summary>
    private static string Sanitise(string part)
    {
        var s = new StringBuilder(part.Length);
        foreach (char c in part)
        {
            s.Append(char.IsAsciiLetterOrDigit(c) || c is ':' or '-' or '_' or '.' or '+' ? c : '_');
        }
        return s.ToString();
    }
}
