using System.CommandLine;

namespace Cli.Commands;

/// <summary><c>virtsim record</c>: records a trace from a real KVM run. Needs /dev/kvm; says so plainly
/// and exits 2 where it is absent.</summary>
internal static class RecordCommand
{
    public const string KvmDevice = "/dev/kvm";

    public static Command Build(CliApp app)
    {
        var guest = new Option<string>("--guest") { Description = "Guest program (flat 32-bit binary built by guest/build)", Required = true };
        var device = new Option<string>("--device") { Description = "Device model serving the guest's exits", Required = true };
        var backend = new Option<string>("--backend") { Description = "virtio (userspace) or vhost", DefaultValueFactory = _ => "virtio" };
        backend.AcceptOnlyFromAmong("virtio", "vhost");
        var output = new Option<string>("--output", "-o") { Description = "Trace file to write", Required = true };
        var cmd = new Command("record", "Record a trace from a real KVM run (needs /dev/kvm)") { guest, device, backend, output };
        cmd.SetAction(pr =>
        {
            if (!File.Exists(KvmDevice))
            {
                app.Err.WriteLine($"virtsim record: {KvmDevice} is not present on this machine; recording needs a host with KVM. Replaying works anywhere: virtsim replay <trace>");
                return ExitCodes.UsageOrInput;
            }
            app.Err.WriteLine("virtsim record: the KVM recorder is not part of this build yet (see README: Recording)");
            return ExitCodes.UsageOrInput;
        });
        return cmd;
    }
}
