using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Sim.Devices.Virtio.Blk;
using Sim.Spec.Blk;

namespace Sim.Devices.Tests.Blk;

public sealed class VirtioBlkPropertyTests
{
    [Property(MaxTest = 60, Replay = "(1592635648,11400714819323198485)")]
    public Property Robust_RandomValidReadsAndWritesAgreeWithAReferenceDisk() =>
        AgreesWithAReferenceDisk(Flavour.Robust);

    [Property(MaxTest = 60, Replay = "(1592635649,11400714819323198485)")]
    public Property Seed_RandomValidReadsAndWritesAgreeWithAReferenceDisk() => AgreesWithAReferenceDisk(Flavour.Seed);

    private static Property AgreesWithAReferenceDisk(Flavour flavour)
    {
        Gen<(bool Write, int Sector, int Count, byte Fill)> op =
            from write in Gen.Elements(true, false)
            from sector in Gen.Choose(0, (int)BlkRig.CapacitySectors - 1)
            from count in Gen.Choose(1, 4)
            from fill in Gen.Choose(0, 255)
            select (write, sector, Math.Min(count, (int)BlkRig.CapacitySectors - sector), (byte)fill);
        return Prop.ForAll(Arb.From(Gen.ListOf(op).Select(l => l.Take(24).ToArray())), ops =>
        {
            BlkRig b = BlkRig.Create(flavour);
            byte[] reference = b.Disk.Contents.ToArray();
            foreach ((bool write, int sector, int count, byte fill) in ops)
            {
                int bytes = count * BlkSpec.SectorSize;
                if (write)
                {
                    byte[] payload = new byte[bytes];
                    for (int i = 0; i < bytes; i++)
                        payload[i] = (byte)(fill + i);
                    if (b.Write((ulong)sector, payload).Status != BlkSpec.StatusOk)
                        return false;
                    payload.CopyTo(reference, sector * BlkSpec.SectorSize);
                }
                else
                {
                    (uint len, byte status, byte[] data) = b.Read((ulong)sector, (uint)bytes);
                    if (status != BlkSpec.StatusOk || len != (uint)bytes + 1)
                        return false;
                    if (!data.AsSpan().SequenceEqual(reference.AsSpan(sector * BlkSpec.SectorSize, bytes)))
                        return false;
                }
            }
            return b.Disk.Contents.SequenceEqual(reference) && !b.Device.IsBroken;
        });
    }
}
