using System.Globalization;
using System.Text;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// A standalone reproducer of one input on real QEMU, needing no virtsim: the firmware and disk image, the qtest
/// command script this backend sent (PCI enumeration, BAR mapping, feature negotiation, queue set-up, the input's
/// guest stores, register writes and kicks, the final reads), and <c>run.sh</c> with the QEMU command line
/// (<c>qemu-system-x86_64 … -qtest stdio &lt; script.qtest</c>). Recorded by re-running the input on a fresh QEMU.
/// Without QMP the script cannot wait for asynchronous block I/O between commands; a crash or a broken device
/// replays as it happened, a timing-dependent result may need the kicks spaced out. Written for every real-QEMU
/// finding (<see cref="RealQemuTarget"/>): blk (<see cref="Write"/>), rng (<see cref="WriteRng"/>) and net
/// (<see cref="WriteNet"/>, which adds the frames QEMU's socket netdev received).
/// </summary>
internal static class QemuReproducer
{
    public const string ScriptFileName = "script.qtest";
    public const string RunFileName = "run.sh";
    public const string NotesFileName = "README.txt";

    /// <summary>The environment variable that, when set, names the one directory every reproducer goes to.</summary>
    public const string DirectoryVariable = "VIRTSIM_QEMU_REPRODUCERS";

    /// <summary>The folder under a findings directory that holds its reproducers.</summary>
    public const string FolderName = "qemu-reproducers";

    /// <summary>Where the reproducers of a campaign saving its findings in <paramref name="findings"/> go
    /// (<c>&lt;dir&gt;/&lt;input content name&gt;/</c>): <c>$VIRTSIM_QEMU_REPRODUCERS</c>, else
    /// <c>&lt;findings&gt;/qemu-reproducers</c>.</summary>
    public static string DirectoryFor(string findings) =>
        Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } d
            ? d
            : Path.Combine(findings, FolderName);

    /// <summary>Where the targets write reproducers before a campaign names its findings directory (<c>fuzz
    /// reproduce</c>, the external engines): <c>$VIRTSIM_QEMU_REPRODUCERS</c>, else the default findings directory's
    /// (<c>findings/qemu-reproducers</c> under the current directory).</summary>
    public static string DefaultDirectory => DirectoryFor(Entry.FuzzOptions.FindingsDefault);

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
        using (
            QemuMachine machine = QemuMachine.Start(program, VirtioBlkQemuTarget.Serial, disk, RealQemuTarget.AnswerMax)
        )
        {
            machine.Qtest.Script = script;
            outcome = Record(machine, () =>
            {
                lockstep.Attach(machine);
                lockstep.ResetQemu(disk);
                lockstep.Run(bytes, disk, VirtioBlkQemuTarget.Serial, model, qemu);
                return Describe(
                    BlkComparison.Compare(model, qemu, lockstep.ModelUsedRing()).Select(d => d.Kind + ": " + d.Detail),
                    qemu.BrokenReason
                );
            });
        }
        IReadOnlyList<string> args = QemuCommandLine.Arguments(
            "bios.bin",
            "disk.img",
            null,
            VirtioBlkQemuTarget.Serial
        );
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
        using (QemuMachine machine = QemuMachine.StartRng(program, RealQemuTarget.AnswerMax))
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
                return Describe(
                    RngComparison.Compare(model, qemu, lockstep.UsedRingsSeen).Select(d => d.Kind + ": " + d.Detail),
                    qemu.BrokenReason
                );
            });
        }
        WriteFiles(directory, script, QemuCommandLine.RngArguments("bios.bin", null), disk: null, note, outcome);
    }

    /// <summary>Writes the net reproducer of <paramref name="input"/> (virtio-net-pci on a socket netdev) into
    /// <paramref name="directory"/>: besides the script, each frame the recorded run sent to QEMU's socket
    /// (<c>frame-NNN.bin</c>) and, in <see cref="FramesFileName"/>, the script line after which it was sent (the kick
    /// that took it, and its batch answered). <c>run.sh</c> (bash) runs QEMU as a coprocess, sends the script and,
    /// once QEMU answered a frame's line, sends the frame to QEMU's UDP port with bash's <c>/dev/udp</c>
    /// and pauses 0.1 s so that QEMU's main loop reads it before the next commands (a frame sent earlier could be
    /// purged by the script's device reset, virtio_net_reset). A crash or a break replays as it happened; the pause is
    /// wall time, so a result that depends on the order of a frame and a later command may need it longer.</summary>
    public static void WriteNet(string program, ReadOnlySpan<byte> input, string directory, string note)
    {
        byte[] bytes = input.ToArray();
        var script = new StringBuilder();
        var frames = new List<(int Line, byte[] Frame)>();
        var lockstep = new VirtioNetLockstep();
        var model = new NetObservation(VirtioNetLockstep.MemoryBytes);
        var qemu = new NetObservation(VirtioNetLockstep.MemoryBytes);
        string outcome;
        using (QemuNetLink link = QemuNetLink.Open())
        using (QemuMachine machine = QemuMachine.StartNet(program, link.Netdev, RealQemuTarget.AnswerMax))
        {
            machine.Qtest.Script = script;
            link.Injected = frame => frames.Add((Lines(script), frame));
            outcome = Record(machine, () =>
            {
                lockstep.Attach(machine, link);
                lockstep.ResetQemu(wait: true);
                lockstep.Run(bytes, model, qemu);
                machine.Qtest.Sync();
                if (qemu.Broken && qemu.BrokenReason is null)
                {
                    qemu.BrokenReason = machine.LastStderrLine(TimeSpan.FromSeconds(5));
                }
                List<NetDifference> diffs = NetComparison.Compare(
                    model,
                    qemu,
                    lockstep.UsedRingsSeen,
                    lockstep.Facts.FramesReceived
                );
                return Describe(diffs.Select(d => d.Kind + ": " + d.Detail), qemu.BrokenReason);
            });
        }
        // Ports are the shell's: QPORT (QEMU's socket, where the frames go) and QPORT+1 (where QEMU sends).
        string netdev = "socket,id=n0,udp=127.0.0.1:HPORT,localaddr=127.0.0.1:QPORT";
        IReadOnlyList<string> args = QemuCommandLine.NetArguments("bios.bin", null, netdev);
        WriteFiles(directory, script, args, disk: null, note, outcome, NetFeed(directory, frames));
    }

    public const string FramesFileName = "frames.txt";

    /// <summary>Writes the frames and <see cref="FramesFileName"/>; returns run.sh's text before the QEMU command
    /// (which becomes a coprocess) and after it (which sends the script to it and the frames to its socket).</summary>
    private static (string Before, string After) NetFeed(string directory, List<(int Line, byte[] Frame)> frames)
    {
        Directory.CreateDirectory(directory);
        var list = new StringBuilder();
        for (int i = 0; i < frames.Count; i++)
        {
            string name = string.Create(CultureInfo.InvariantCulture, $"frame-{i:d3}.bin");
            File.WriteAllBytes(Path.Combine(directory, name), frames[i].Frame);
            list.Append(frames[i].Line.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(name).Append('\n');
        }
        File.WriteAllText(Path.Combine(directory, FramesFileName), list.ToString());
        const string before = """
            qport=${QPORT:-$((20000 + $$ % 20000))}
            hport=$((qport + 1))
            coproc Q { exec
            """;
        // Each qtest command has one answer line: a frame goes out once QEMU answered its line (the kick ran).
        const string after = """

            }
            pid=$Q_PID in=${Q[1]} out=${Q[0]}
            answered=0
            send() {
              sed -n "$1,$2p" script.qtest >&"$in"
              while [ "$answered" -lt "$2" ] && IFS= read -r answer <&"$out"; do
                echo "$answer"; answered=$((answered + 1))
              done
            }
            from=1
            while read -r line frame; do
              if [ "$line" -ge "$from" ]; then send "$from" "$line"; fi
              from=$((line + 1))
              cat "$frame" > "/dev/udp/127.0.0.1/$qport"
              sleep 0.1
            done < frames.txt
            send "$from" "$(wc -l < script.qtest)" 2>/dev/null
            exec {in}>&-
            cat <&"$out" 2>/dev/null
            wait "$pid"
            """;
        return (before, after);
    }

    private static int Lines(StringBuilder text)
    {
        int n = 0;
        foreach (ReadOnlyMemory<char> chunk in text.GetChunks())
            n += chunk.Span.Count('\n');
        return n;
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
        "QEMU answered every command; QEMU "
        + (qemuBroken is null ? "not broken" : "broken: " + qemuBroken)
        + "; differences: "
        + string.Join("; ", differences);

    /// <summary>bios.bin, disk.img (blk only), the script, run.sh (the command line with the qtest log on stderr) and
    /// README.txt. run.sh bounds QEMU with <c>timeout -k 2 10</c>: a QEMU spinning in its main loop (the blk hang
    /// <see cref="Qemu72Differences.HangUsedOverAvail"/>) never handles the TERM that plain <c>timeout</c> sends, so
    /// the KILL two seconds later ends it. With <paramref name="feed"/> (net) run.sh is a bash script that runs QEMU as
    /// a coprocess between the feed's two parts, and the arguments' <c>QPORT</c>/<c>HPORT</c> become its
    /// ports.</summary>
    private static void WriteFiles(
        string directory,
        StringBuilder script,
        IReadOnlyList<string> args,
        byte[]? disk,
        string note,
        string outcome,
        (string Before, string After)? feed = null
    )
    {
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, "bios.bin"), HaltingBios.Image());
        if (disk is not null)
            File.WriteAllBytes(Path.Combine(directory, "disk.img"), disk);
        File.WriteAllText(Path.Combine(directory, ScriptFileName), script.ToString());
        string[] replay =
        [
            .. args.Select(a =>
                a == "/dev/null"
                    ? "/dev/stderr"
                    : a.Replace("file=disk.img", "file=disk.run.img", StringComparison.Ordinal)
            ),
        ];
        string copyDisk = disk is null ? "" : "cp disk.img disk.run.img && ";
        string line = QemuCommandLine.ShellLine(QemuBinary.ProgramName, replay);
        const string replays =
            "# Replays the input on QEMU with no virtsim: qtest commands from script.qtest, answers on "
            + "stdout, the qtest log on stderr";
        File.WriteAllText(
            Path.Combine(directory, RunFileName),
            feed is not { } f
                ? "#!/bin/sh\n"
                    + replays
                    + ".\n"
                    + "cd \"$(dirname \"$0\")\" && "
                    + copyDisk
                    + "exec timeout -k 2 10 "
                    + line
                    + " < "
                    + ScriptFileName
                    + "\n"
                : "#!/bin/bash\n"
                    + replays
                    + ";\n# each frame of frames.txt goes to QEMU's socket netdev (bash's "
                    + "/dev/udp, QPORT: QEMU's UDP port) once QEMU answered its script line.\n"
                    + "cd \"$(dirname \"$0\")\" || exit 2\n"
                    + f.Before
                    + " timeout -k 2 10 "
                    + line.Replace("HPORT", "${hport}", StringComparison.Ordinal)
                        .Replace("QPORT", "${qport}", StringComparison.Ordinal)
                    + f.After
                    + "\n"
        );
        File.WriteAllText(Path.Combine(directory, NotesFileName), note + "\n\nRecorded run: " + outcome + "\n");
    }
}
