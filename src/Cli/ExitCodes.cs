namespace Virtsim.Cli;

/// <summary>The command's exit codes (conventional: 0 ok, 1 finding, 2 usage or input error).</summary>
public static class ExitCodes
{
    /// <summary>Everything worked; replays matched; no findings.</summary>
    public const int Ok = 0;

    /// <summary>A replay diverged, or the fuzzer or a check found something.</summary>
    public const int Finding = 1;

    /// <summary>Bad usage or bad input (unknown option, corrupt trace, missing file, no /dev/kvm).</summary>
    public const int UsageOrInput = 2;
}
