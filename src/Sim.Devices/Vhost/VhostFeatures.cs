using Sim.Devices.Virtio;
using Sim.Engine;
using Sim.Spec.Virtio;

namespace Sim.Devices.Vhost;

/// <summary>Feature bits a vhost device offers through VHOST_GET_FEATURES.</summary>
public static class VhostFeatures
{
    /// <summary>VIRTIO_F_ANY_LAYOUT (bit 27).</summary>
    public const int FAnyLayout = 27;

    /// <summary>VHOST_F_LOG_ALL (bit 26): dirty logging for migration. Not offered: the model has no dirty
    /// log.</summary>
    public const int FLogAll = 26;

    /// <summary>
    /// Linux vhost.h VHOST_FEATURES without VHOST_F_LOG_ALL: NOTIFY_ON_EMPTY, RING_INDIRECT_DESC, RING_EVENT_IDX,
    /// ANY_LAYOUT, VERSION_1. Note that vhost_get_vq_desc walks INDIRECT descriptors whether or not the feature was
    /// acked (QEMU's pop does too); only EVENT_IDX and NOTIFY_ON_EMPTY change the data path.
    /// </summary>
    public const ulong Default =
        (1UL << VirtioSpec.FNotifyOnEmpty)
        | (1UL << VirtioSpec.FIndirectDesc)
        | (1UL << VirtioSpec.FEventIdx)
        | (1UL << FAnyLayout)
        | (1UL << VirtioSpec.FVersion1);

    /// <summary>True when <paramref name="features"/> has bit <paramref name="bit"/>.</summary>
    public static bool Has(ulong features, int bit) => Narrow.AsUInt32Bits(bit) < 64 && (features & (1UL << bit)) != 0;
}
