using System.Buffers.Binary;
using Sim.Devices.Virtio.Demo;
using Sim.Engine.Memory;
using Sim.Spec.Virtio;
using Virtsim.Fuzz.Targets.Rings;
using L = Sim.Spec.Virtio.VirtioPciLayout;

namespace Virtsim.Fuzz.Targets.Transport;

/// <summary>The driver's set-up sequences of one execution and the guest that posts requests.</summary>
internal sealed partial class VirtioPciExecution
{
    /// <summary>VIRTIO 1.2 §3.1.1 through the modern interface, with a feature choice (sometimes unoffered bits,
    /// sometimes no VERSION_1) and a ring placement.</summary>
    private void ModernInit(in VirtioPciInput.Op op)
    {
        const VirtioStatus ad = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        CommonWrite(L.CommonDeviceStatus, 1, 0);
        CommonWrite(L.CommonDeviceStatus, 1, (byte)VirtioStatus.Acknowledge);
        CommonWrite(L.CommonDeviceStatus, 1, (byte)ad);
        ulong features = _model.OfferedModern & op.Value;
        if ((op.A & 0x10) == 0)
            features |= 1UL << VirtioSpec.FVersion1;
        if ((op.A & 0x20) != 0)
            features |= 1UL << (int)(op.Value >> 58); // one bit the device may not offer
        CommonWrite(L.CommonDriverFeatureSelect, 4, 0);
        CommonWrite(L.CommonDriverFeature, 4, (uint)features);
        CommonWrite(L.CommonDriverFeatureSelect, 4, 1);
        CommonWrite(L.CommonDriverFeature, 4, features >> 32);
        CommonWrite(L.CommonDeviceStatus, 1, (byte)(ad | VirtioStatus.FeaturesOk));
        // §3.1.1 step 6: the driver gives up when FEATURES_OK did not stick (unless the op says to go on).
        if ((_rig.PeekStatus() & VirtioStatus.FeaturesOk) == 0 && (op.A & 0x40) == 0)
            return;
        int size = 1 << (op.Reg % (RingInput.SizeLogMax + 1));
        CommonWrite(L.CommonQueueSelect, 2, Queue);
        CommonWrite(L.CommonQueueSize, 2, (ulong)size);
        size = _device.GetQueue(Queue).Size;
        int placement = (op.A & 0x80) != 0 ? (op.A >> 2) & 7 : 0;
        (ulong desc, ulong avail, ulong used) = RingInput.Place(placement, size, op.Value);
        CommonWrite(L.CommonQueueDesc, 8, desc);
        CommonWrite(L.CommonQueueDriver, 8, avail);
        CommonWrite(L.CommonQueueDevice, 8, used);
        CommonWrite(L.CommonQueueMsixVector, 2, 0);
        CommonWrite(L.CommonConfigMsixVector, 2, 1);
        CommonWrite(L.CommonQueueEnable, 2, 1);
        CommonWrite(L.CommonDeviceStatus, 1, (byte)(ad | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk));
        GuestSetUp(desc, avail, size);
    }

    /// <summary>A legacy driver (VIRTIO 1.2 §4.1.5.1.3 legacy, QEMU virtio_ioport_write): status, 32 feature bits,
    /// QUEUE_PFN of a 4 KiB-aligned ring (descriptors, available ring, used ring at the next 4 KiB),
    /// DRIVER_OK.</summary>
    private void LegacyInit(in VirtioPciInput.Op op)
    {
        const VirtioStatus ad = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        LegacyWrite(L.LegacyStatus, 1, 0);
        LegacyWrite(L.LegacyStatus, 1, (byte)ad);
        LegacyWrite(L.LegacyGuestFeatures, 4, (uint)(_model.HostFeaturesLow & op.Value));
        LegacyWrite(L.LegacyQueueSel, 2, Queue);
        int size = _device.GetQueue(Queue).Size;
        ulong page = 1 + (ulong)(op.Reg % 3);
        LegacyWrite(L.LegacyQueuePfn, 4, page);
        LegacyWrite(L.LegacyStatus, 1, (byte)(ad | VirtioStatus.DriverOk));
        ulong desc = page << L.LegacyQueueAddressShift;
        ulong avail = desc + VirtioSpec.DescTableSize(size);
        GuestSetUp(desc, avail, size);
    }

    private void GuestSetUp(ulong desc, ulong avail, int size)
    {
        _guest.Reset(_sim.Memory, desc, avail, size);
        _guestDesc = desc;
        _guestAvailRing = avail;
        _guestSize = size;
        _guestReady = true;
    }

    /// <summary>The guest posts a request: a well-formed demo request (one 8-byte out buffer {opt, buff}, one 8-byte in
    /// buffer) or another chain shape, or a raw ring edit; then maybe kicks.</summary>
    private void Post(in VirtioPciInput.Op op)
    {
        if (!_guestReady)
            return;
        if ((op.A & 1) != 0)
        {
            _guest.Apply(new RingInput.Op(RingInput.OpAddChain, 0, 0, 0, 0, 4, 0, DemoProtocol.RequestSize - 1));
            WriteRequest((uint)(op.Value & 1), (uint)(op.Value >> 32));
        }
        else
        {
            _guest.Apply(RingEdit(op));
        }
        InterruptsAfterGuest();
        if ((op.A & 2) != 0)
            _rig.Notify((op.A & 4) != 0, Queue);
    }

    /// <summary>The guest ring op an OpPost with bit 0 clear encodes: code in bits 4..6 of A, the rest from Reg and
    /// Value.</summary>
    private static RingInput.Op RingEdit(in VirtioPciInput.Op op)
    {
        int code = (op.A >> 4) & 7;
        return new RingInput.Op(
            code,
            RingInput.Address(op.Reg, op.Value),
            RingInput.Length(op.Reg >> 3, (uint)op.Value),
            (ushort)((op.Reg >> 6) & 7),
            (ushort)(op.Value >> 16),
            (byte)(op.Value >> 40),
            op.Value,
            (uint)(op.Value >> 8)
        );
    }

    /// <summary>Writes {opt, buff} into the out buffer of the chain just published (its head's first
    /// descriptor).</summary>
    private void WriteRequest(uint opt, uint buff)
    {
        GuestMemory memory = _sim.Memory;
        using GuestMemory.ActorScope scope = memory.As(MemoryActor.Guest);
        ushort idx = _guest.AvailIdx;
        ulong slot = (ulong)((idx - 1) & (_guestSize - 1));
        if (!memory.TryReadUInt16(new GuestAddress(_guestAvailRing + 4 + (2UL * slot)), out ushort head))
            return;
        if (!memory.TryReadUInt64(new GuestAddress(_guestDesc + (16UL * (ulong)(head % _guestSize))), out ulong addr))
        {
            return;
        }
        Span<byte> request = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(request, opt);
        BinaryPrimitives.WriteUInt32LittleEndian(request[4..], buff);
        memory.TryWrite(new GuestAddress(addr), request);
    }
}
