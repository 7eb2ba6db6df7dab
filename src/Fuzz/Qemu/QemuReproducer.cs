using System.Text;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// A standalone reproducer of one input on real QEMU, needing no virtsim: the firmware and disk image, the qtest
/// command script this backend sent (PCI enumeration, BAR mapping, feature negotiation, queue set-up, the input's
/// guest stores, register writes and kicks, the final reads), and <c>run.sh</c> with the QEMU command line
/// (<c>qemu-system-x86_64 … -qtest stdio &lt; script.qtest</c>). Recorded by re-running the input on a fresh QEMU.
/// Without QMP the script cannot wait for asynchronous block I/O between commands; a crash or a broken device
/// replays as it happened, a timing-dependent result may need the kicks spaced out. Written for blk
/// (<see cref="Write"/>) and rng (<see cref="WriteRng"/>) findings.
/// </summary>
public static class QemuReproducer
{
    public const string ScriptFileName = "script.qtest";
    public const string RunFileName = "run.sh";
    public const string NotesFileName = "README.txt";

    /// <summary>Where the targets write reproducers by default (<c>&lt;dir&gt;/&lt;input content name&gt;/</c>):
    /// <c>$VIRTSIM_QEMU_REPRODUCERS</c>, else <c>findings/qemu-reproducers</c> under the current directory.</summary>
    public static string DefaultDirectory =>
        Environment.GetEnvironmentVariable("VIRTSIM_QEMU_REPRODUCERS") is { Length: > 0 } d ? d : Path.Combine("findings", "qemu-reproducers");

    /// <summary>Writes the blk reproducer of <paramref name="input"/> into <paramref name="directory"/> (created):
    /// the input re-run on a fresh QEMU with every qtest command recorded.</summary>
    public static void Write(string program, ReadOnlySpan<byte> input, string directory, string note)
    {
        byte[] disk = VirtioBlkQemuTarget.DiskImage();
        byte[] bytes = input.ToArray();
        var script = new StringBuilder();
        var lockstep = new VirtioBlkLockstep();
        var model = new BlkObservation(VirtioBlkLockstep.MemoryBytes, disk.Length);
        var qemu = new BlkObservation(VirtioBlkLockstep.MemoryBytes, disk.Length);
        string outcome;
        using (QemuMachine machine = QemuMachine.Start(program, VirtioBlkQemuTarget.Serial, disk, VirtioBlkQemuTarget.AnswerMax))
        {
            machine.Qtest.Script = script;
            outcome = Record(machine, () =>
            {
                lockstep.Attach(machine);
                lockstep.ResetQemu(disk);
                lockstep.Run(bytes, disk, VirtioBlkQemuTarget.Serial, model, qemu);
                return Describe(BlkComparison.Compare(model, qemu, lockstep.ModelUsedRing()).Select(d => d.Kind + ": " + d.Detail), qemu.BrokenReason);
            });
        }
        IReadOnlyList<string> args = QemuCommandLine.Arguments("bios.bin", "disk.img", null, VirtioBlkQemuTarget.Serial);
        WriteFiles(directory, script, args, disk, note, outcome);
    }

    /// <summary>Writes the rng reproducer of <paramref name="input"/> (virtio-rng-pci, no disk) into
    /// <paramref name="directory"/>. The script carries the used.idx reads after each kick that let QEMU's main loop
    /// run the entropy bottom half; replayed from a file those reads come back to back, so a fill the bottom half
    /// makes late may land after the script's next commands. A break (QEMU's message on stderr) or a crash replays
    /// as it happened.</summary>
    public static void WriteRng(string program, ReadOnlySpan<byte> input, string directory, string note)
    {
        byte[] bytes = input.ToArray();
        var script = new StringBuilder();
        var lockstep = new VirtioRngLockstep();
        var model = new RngObservation(VirtioRngLockstep.MemoryBytes);
        var qemu = new RngObservation(VirtioRngLockstep.MemoryBytes);
        string outcome;
        using (QemuMachine machine = QemuMachine.StartRng(program, VirtioBlkQemuTarget.AnswerMax))
        {
            machine.Qtest.Script = script;
            outcome = Record(machine, () =>
            {
                lockstep.Attach(machine);
                lockstep.ResetQemu(wait: true);
                lockstep.Run(bytes, model, qemu);
                machine.Qtest.Sync();
                // The note is written once, off the hot path: give a message that trails the break (a loaded host
                // starves the stderr reader past the fuzzing loop's 200 ms) up to 5 s to arrive.
                if (qemu.Broken && qemu.BrokenReason is null)
                {
                    qemu.BrokenReason = machine.LastStderrLine(TimeSpan.FromSeconds(5));
                }
                return Describe(RngComparison.Compare(model, qemu, lockstep.UsedRingsSeen).Select(d => d.Kind + ": " + d.Detail), qemu.BrokenReason);
            });
        }
        WriteFiles(directory, script, QemuCommandLine.RngArguments("bios.bin", null), disk: null, note, outcome);
    }

    private static string Record(QemuMachine machine, Func<string> run)
    {
        try
        {
            return run();
        }
        catch (Exception e) when (e is QemuDiedException or QemuHangException)
        {
            string stderr = machine.StderrAfterExit();
            return $"{e.Message} ({machine.ExitDescription})\nstderr:\n{stderr}";
        }
    }

    private static string Describe(IEnumerable<string> differences, string? qemuBroken) =>
        "QEMU answered every command; QEMU " + (qemuBroken is null ? "not broken" : "broken: " + qemuBroken)
        + "; differences: " + string.Join("; ", differences);

    /// <summary>bios.bin, disk.img (blk only), the script, run.sh (the command line with the qtest log on stderr)
    /// and README.txt.</summary>
    private static void WriteFiles(string directory, StringBuilder script, IReadOnlyList<string> args, byte[]? disk, string note, string outcome)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "bios.bin"), HaltingBios.Image());
        if (disk is not null) File.WriteAllBytes(Path.Combine(directory, "disk.img"), disk);
        File.WriteAllText(Path.Combine(directory, ScriptFileName), script.ToString());
        string[] replay = [.. args.Select(a => a == "/dev/null" ? "/dev/stderr" : a.Replace("file=disk.img", "file=disk.run.img", StringComparison.Ordinal))];
        string copyDisk = disk is null ? "" : "cp disk.img disk.run.img && ";
        File.WriteAllText(Path.Combine(directory, RunFileName),
            "#!/bin/sh\n# Replays the input on QEMU with no virtsim: qtest commands from script.qtest, answers on stdout, the qtest log on stderr.\n"
            + "cd \"$(dirname \"$0\")\" && " + copyDisk + "exec timeout 10 "
            + QemuCommandLine.ShellLine(QemuBinary.ProgramName, replay) + " < " + ScriptFileName + "\n");
        File.WriteAllText(Path.Combine(directory, NotesFileName), note + "\n\nRecorded run: " + outcome + "\n");
    }
}
