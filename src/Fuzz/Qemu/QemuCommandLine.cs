using System.Globalization;

namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The QEMU command line of the real-QEMU backend, in one place so the process the fuzzer starts and the standalone
/// reproducer it writes are the same machine: a PC with TCG, 128 MiB of RAM, no default devices, a halting
/// <see cref="HaltingBios"/>, qtest on stdin/stdout (log to /dev/null), QMP on a Unix socket, and one
/// <c>virtio-blk-pci</c> (modern only, ioeventfd off so a kick is handled inside the qtest write, as the model's
/// synchronous notify) whose device features are set to the model's: no discard, no write-zeroes, the model's serial.
/// </summary>
internal static class QemuCommandLine
{
    /// <summary>QOM id of the device (QMP paths name it: <c>/machine/peripheral/vblk0/virtio-backend</c>).</summary>
    public const string DeviceId = "vblk0";

    public const string VirtioBackendPath = "/machine/peripheral/" + DeviceId + "/virtio-backend";

    public const int RamMiB = 128;

    /// <summary>Arguments (without the program) for a machine with the given disk image and QMP socket
    /// (<paramref name="qmpSocket"/> null: no QMP, as in a reproducer).</summary>
    public static IReadOnlyList<string> Arguments(string biosPath, string diskPath, string? qmpSocket, string serial)
    {
        List<string> args = Machine(biosPath, qmpSocket);
        args.Add("-drive");
        // io_uring on tmpfs completes a request inside the submission (checked per input by VirtioBlkLockstep's audit):
        // the kick's qtest write returns with the I/O done, so no wait is needed between guest steps.
        args.Add($"if=none,id=d0,file={diskPath},format=raw,aio=io_uring");
        args.Add("-device");
        args.Add(
            $"virtio-blk-pci,id={DeviceId},drive=d0,disable-legacy=on,ioeventfd=off,discard=off,write-zeroes=off,"
                + $"num-queues=1,queue-size=256,serial={serial}"
        );
        return args;
    }

    /// <summary>QOM id of the virtio-rng-pci device of <see cref="RngArguments"/>.</summary>
    public const string RngDeviceId = "vrng0";

    public const string RngVirtioBackendPath = "/machine/peripheral/" + RngDeviceId + "/virtio-backend";

    /// <summary>The rate limiter of <see cref="RngArguments"/>: QEMU's virtio_rng_process serves at most
    /// <c>max-bytes</c> per <c>period</c> ms (check_rate_limit refills the quota). The default (INT64_MAX bytes per
    /// 65 536 ms) would let one descriptor chain of 100 MiB make the rng-builtin backend allocate and fill 100 MiB
    /// (rng_backend_request_entropy: <c>g_malloc(size)</c>); 1 MiB per 1 ms bounds that, and no input whose buffers lie
    /// in the compared 64 KiB can exhaust it.</summary>
    public const int RngMaxBytes = 1 << 20;

    /// <summary>The rng device's fixed properties: the backend object, modern only, kicks handled inside the notify
    /// write.</summary>
    private const string RngFixedProperties = "rng=r0,disable-legacy=on,ioeventfd=off";

    /// <summary>Arguments for the rng machine: the same PC, QMP, and one modern-only <c>virtio-rng-pci</c> fed by the
    /// <c>rng-builtin</c> backend (qemu_guest_getrandom, completed in a bottom half), ioeventfd off.</summary>
    public static IReadOnlyList<string> RngArguments(string biosPath, string? qmpSocket)
    {
        List<string> args = Machine(biosPath, qmpSocket);
        args.Add("-object");
        args.Add("rng-builtin,id=r0");
        args.Add("-device");
        args.Add(
            string.Create(
                CultureInfo.InvariantCulture,
                $"virtio-rng-pci,id={RngDeviceId},{RngFixedProperties},max-bytes={RngMaxBytes},period=1"
            )
        );
        return args;
    }

    /// <summary>QOM id of the virtio-net-pci device of <see cref="NetArguments"/>.</summary>
    public const string NetDeviceId = "vnet0";

    public const string NetVirtioBackendPath = "/machine/peripheral/" + NetDeviceId + "/virtio-backend";

    /// <summary>The device features QEMU offers beyond the model's (VERSION_1 and MAC), switched off so both offer
    /// the same: mergeable buffers, control queue, link status, multiqueue and every offload.</summary>
    private const string NetFeaturesOff =
        "mrg_rxbuf=off,ctrl_vq=off,status=off,mq=off,csum=off,guest_csum=off,gso=off,"
        + "guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off,"
        + "host_tso4=off,host_tso6=off,host_ecn=off,host_ufo=off";

    /// <summary>Arguments for the net machine: the same PC, QMP, the netdev <paramref name="netdev"/> (id
    /// <c>n0</c>; <see cref="QemuNetLink.Netdev"/>: a UDP socket on 127.0.0.1) and one modern-only virtio-net-pci
    /// with the model's MAC and features, ioeventfd off.</summary>
    public static IReadOnlyList<string> NetArguments(string biosPath, string? qmpSocket, string netdev)
    {
        List<string> args = Machine(biosPath, qmpSocket);
        args.Add("-netdev");
        args.Add(netdev);
        args.Add("-device");
        args.Add(
            $"virtio-net-pci,id={NetDeviceId},netdev=n0,disable-legacy=on,ioeventfd=off,mac=52:54:00:12:34:56,"
                + NetFeaturesOff
        );
        return args;
    }

    /// <summary>The machine without devices: PC, TCG, RAM, qtest on stdio, halting firmware, QMP when given.</summary>
    private static List<string> Machine(string biosPath, string? qmpSocket)
    {
        var args = new List<string>
        {
            "-machine",
            "pc",
            "-accel",
            "tcg",
            "-m",
            RamMiB.ToString(CultureInfo.InvariantCulture) + "M",
            "-display",
            "none",
            "-nodefaults",
            "-no-user-config",
            "-qtest",
            "stdio",
            "-qtest-log",
            "/dev/null",
            "-bios",
            biosPath,
            // One thread-pool worker: a kick's requests do their I/O in submission order (QEMU 7.1+ main-loop object).
            "-object",
            "main-loop,id=ml0,thread-pool-max=1",
        };
        if (qmpSocket is not null)
        {
            args.Add("-qmp");
            args.Add($"unix:{qmpSocket},server=on,wait=off");
        }
        return args;
    }

    /// <summary>A shell line (single-quoted arguments) for a reproducer.</summary>
    public static string ShellLine(string program, IReadOnlyList<string> arguments) =>
        program
        + " "
        + string.Join(
            ' ',
            arguments.Select(a =>
                a.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '/' or '.' or ',' or '=' or ':')
                    ? a
                    : "'" + a.Replace("'", "'\\''", StringComparison.Ordinal) + "'"
            )
        );
}
