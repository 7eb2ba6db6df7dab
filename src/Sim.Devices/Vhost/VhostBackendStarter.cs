using Sim.Engine;
using Sim.Spec.Virtio;

namespace Sim.Devices.Vhost;

/// <summary>
/// The VMM side of a vhost device: the ioctl sequences QEMU issues (hw/virtio/vhost.c). <see cref="Init"/> is
/// vhost_dev_init (SET_OWNER, GET_FEATURES), done when the device is created. <see cref="Start"/> is vhost_dev_start
/// plus the device's backend start, done on DRIVER_OK: SET_FEATURES, SET_MEM_TABLE, then per vring SET_VRING_NUM,
/// SET_VRING_BASE, SET_VRING_ADDR (ring GPAs mapped to the VMM's userspace addresses), SET_VRING_KICK, SET_VRING_CALL,
/// and finally the backend's run ioctl. <see cref="Stop"/> is the reverse: backend stop, then GET_VRING_BASE per
/// vring so the transport can resume from there. Each returns the first failing ioctl's result and step.
/// </summary>
public static class VhostBackendStarter
{
    /// <summary>vhost_dev_init: SET_OWNER and GET_FEATURES.</summary>
    public static VhostResult Init(IVhostBackend backend, out ulong offeredFeatures, out VhostStartStep failedAt)
    {
        ArgumentNullException.ThrowIfNull(backend);
        offeredFeatures = 0;
        VhostResult r = backend.Device.SetOwner();
        if (r != VhostResult.Ok)
            return Failed(VhostStartStep.SetOwner, r, out failedAt);
        r = backend.Device.GetFeatures(out offeredFeatures);
        if (r != VhostResult.Ok)
            return Failed(VhostStartStep.GetFeatures, r, out failedAt);
        failedAt = VhostStartStep.None;
        return VhostResult.Ok;
    }

    /// <summary>
    /// vhost_dev_start + backend start with the memory table of <see cref="VmmAddressSpace.MemoryTable"/> and the
    /// negotiated <paramref name="ackedFeatures"/> (QEMU passes the driver's features masked by what vhost offers:
    /// the caller does that masking). <paramref name="rings"/>[i] configures vring i.
    /// </summary>
    public static VhostResult Start(
        IVhostBackend backend,
        ulong ackedFeatures,
        ReadOnlySpan<VhostRingStart> rings,
        out VhostStartStep failedAt
    )
    {
        ArgumentNullException.ThrowIfNull(backend);
        VhostDevice dev = backend.Device;
        VmmAddressSpace vmm = dev.Vmm;
        if (rings.Length > dev.Vqs.Count)
            throw new ArgumentException($"the device has {dev.Vqs.Count} vrings", nameof(rings));

        VhostResult r = dev.SetFeatures(ackedFeatures);
        if (r != VhostResult.Ok)
            return Failed(VhostStartStep.SetFeatures, r, out failedAt);
        r = dev.SetMemTable(vmm.MemoryTable());
        if (r != VhostResult.Ok)
            return Failed(VhostStartStep.SetMemTable, r, out failedAt);

        bool eventIdx = VhostFeatures.Has(ackedFeatures, VirtioSpec.FEventIdx);
        for (int i = 0; i < rings.Length; i++)
        {
            VhostRingStart ring = rings[i];
            uint index = Narrow.AsUInt32Bits(i);
            r = dev.SetVringNum(index, Narrow.AsUInt32Bits(ring.Num));
            if (r != VhostResult.Ok)
                return Failed(VhostStartStep.SetVringNum, r, out failedAt);
            r = dev.SetVringBase(index, ring.LastAvailIdx);
            if (r != VhostResult.Ok)
                return Failed(VhostStartStep.SetVringBase, r, out failedAt);
            uint num = Narrow.AsUInt32Bits(ring.Num);
            if (
                !vmm.TryMapRange(ring.DescTable, (ulong)num * VirtioSpec.DescSize, out ulong desc)
                || !vmm.TryMapRange(ring.AvailRing, VhostRings.AvailSize(num, eventIdx), out ulong avail)
                || !vmm.TryMapRange(ring.UsedRing, VhostRings.UsedSize(num, eventIdx), out ulong used)
            )
            {
                return Failed(VhostStartStep.MapRing, VhostResult.Fault, out failedAt);
            }
            r = dev.SetVringAddr(index, new VhostVringAddr(desc, avail, used));
            if (r != VhostResult.Ok)
                return Failed(VhostStartStep.SetVringAddr, r, out failedAt);
            r = dev.SetVringKick(index, ring.Kick);
            if (r != VhostResult.Ok)
                return Failed(VhostStartStep.SetVringKick, r, out failedAt);
            r = dev.SetVringCall(index, ring.Call);
            if (r != VhostResult.Ok)
                return Failed(VhostStartStep.SetVringCall, r, out failedAt);
        }

        r = backend.SetRunning(true);
        if (r != VhostResult.Ok)
            return Failed(VhostStartStep.SetRunning, r, out failedAt);
        failedAt = VhostStartStep.None;
        return VhostResult.Ok;
    }

    /// <summary>Backend stop, then GET_VRING_BASE for each vring into <paramref name="lastAvailIdx"/> (what QEMU stores
    /// with virtio_queue_set_last_avail_idx), then unbinds the kick eventfds so the transport can take them
    /// back.</summary>
    public static VhostResult Stop(IVhostBackend backend, Span<ushort> lastAvailIdx, out VhostStartStep failedAt)
    {
        ArgumentNullException.ThrowIfNull(backend);
        VhostDevice dev = backend.Device;
        if (lastAvailIdx.Length > dev.Vqs.Count)
            throw new ArgumentException($"the device has {dev.Vqs.Count} vrings", nameof(lastAvailIdx));
        VhostResult r = backend.SetRunning(false);
        if (r != VhostResult.Ok)
            return Failed(VhostStartStep.SetRunning, r, out failedAt);
        for (int i = 0; i < lastAvailIdx.Length; i++)
        {
            r = dev.GetVringBase(Narrow.AsUInt32Bits(i), out uint num);
            if (r != VhostResult.Ok)
                return Failed(VhostStartStep.GetVringBase, r, out failedAt);
            lastAvailIdx[i] = Narrow.LowUInt16(num);
            r = dev.SetVringKick(Narrow.AsUInt32Bits(i), null);
            if (r != VhostResult.Ok)
                return Failed(VhostStartStep.SetVringKick, r, out failedAt);
        }
        failedAt = VhostStartStep.None;
        return VhostResult.Ok;
    }

    private static VhostResult Failed(VhostStartStep step, VhostResult r, out VhostStartStep failedAt)
    {
        failedAt = step;
        return r;
    }
}
