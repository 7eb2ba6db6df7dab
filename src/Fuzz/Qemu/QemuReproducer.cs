using System.Text;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// A standalone reproducer of one input on real QEMU, needing no virtsim: the firmware and disk image, the qtest
/// command script this backend sent (PCI enumeration, BAR mapping, feature negotiation, queue set-up, the input's
/// guest stores, register writes and kicks, the final reads), and <c>run.sh</c> with the QEMU command line
/// (<c>qemu-system-x86_64 … -qtest stdio &lt; script.qtest</c>). Recorded by re-running the input on a fresh QEMU.
/// Without QMP the script cannot wait for asynchronous block I/O between commands; a crash or a broken device
/// replays as it happened, a timing-dependent result may need the kicks spaced out.
/// </summary>
public static class QemuReproducer
{
    public const string ScriptFileName = "script.qtest";
    public const string RunFileName = "run.sh";
    public const string NotesFileName = "README.txt";

    /// <summary>Writes the reproducer of <paramref name="input"/> into <paramref name="directory"/> (created) and
    /// returns the observations of the recorded run (model, QEMU), or throws what the run threw (QEMU died or
    /// hung).</summary>
    public static void Write(string program, ReadOnlySpan<byte> input, string directory, string note)
    {
        Directory.CreateDirectory(directory);
        byte[] disk = VirtioBlkQemuTarget.DiskImage();
        var script = new StringBuilder();
        var lockstep = new VirtioBlkLockstep();
        var model = new BlkObservation(VirtioBlkLockstep.MemoryBytes, disk.Length);
        var qemu = new BlkObservation(VirtioBlkLockstep.MemoryBytes, disk.Length);
        string outcome;
        using (QemuMachine machine = QemuMachine.Start(program, VirtioBlkQemuTarget.Serial, disk, VirtioBlkQemuTarget.AnswerMax))
        {
            machine.Qtest.Script = script;
            try
            {
                lockstep.Attach(machine);
                lockstep.ResetQemu(disk);
                lockstep.Run(input, disk, VirtioBlkQemuTarget.Serial, model, qemu);
                outcome = "QEMU answered every command; differences: " + string.Join("; ", BlkComparison.Compare(model, qemu, lockstep.ModelUsedRing()).Select(d => d.Kind + ": " + d.Detail));
            }
            catch (Exception e) when (e is QemuDiedException or QemuHangException)
            {
                string stderr = machine.StderrAfterExit();
                outcome = $"{e.Message} ({machine.ExitDescription})\nstderr:\n{stderr}";
            }
        }
        File.WriteAllBytes(Path.Combine(directory, "bios.bin"), HaltingBios.Image());
        File.WriteAllBytes(Path.Combine(directory, "disk.img"), disk);
        File.WriteAllText(Path.Combine(directory, ScriptFileName), script.ToString());
        IReadOnlyList<string> args = QemuCommandLine.Arguments("bios.bin", "disk.img", null, VirtioBlkQemuTarget.Serial);
        string[] replay = [.. args.Select(a => a == "/dev/null" ? "/dev/stderr" : a)];
        File.WriteAllText(Path.Combine(directory, RunFileName),
            "#!/bin/sh\n# Replays the input on QEMU with no virtsim: qtest commands from script.qtest, answers on stdout, the qtest log on stderr.\n"
            + "cd \"$(dirname \"$0\")\" && cp disk.img disk.run.img && exec timeout 10 "
            + QemuCommandLine.ShellLine(QemuBinary.ProgramName, [.. replay.Select(a => a.Replace("file=disk.img", "file=disk.run.img", StringComparison.Ordinal))]) + " < " + ScriptFileName + "\n");
        File.WriteAllText(Path.Combine(directory, NotesFileName), note + "\n\nRecorded run: " + outcome + "\n");
    }
}
