using Sim.Devices.Pci;
using Sim.Machine.Kvm;
using Xunit;

namespace Sim.Devices.Tests.Pci;

/// <summary>An <see cref="IPciBarHost"/> for tests: records map/unmap calls in order and routes
/// accesses to the current mappings (a minimal bus).</summary>
internal sealed class RecordingBarHost : IPciBarHost
{
    public List<string> Log { get; } = [];

    public List<PciBarMapping> Mapped { get; } = [];

    public void MapBar(in PciBarMapping mapping)
    {
        Log.Add($"map bar{mapping.BarIndex} {mapping.Bus} 0x{mapping.Address:x}+0x{mapping.Size:x}");
        Mapped.Add(mapping);
    }

    public void UnmapBar(in PciBarMapping mapping)
    {
        Log.Add($"unmap bar{mapping.BarIndex} {mapping.Bus} 0x{mapping.Address:x}+0x{mapping.Size:x}");
        Assert.True(Mapped.Remove(mapping), "unmap of a mapping that was never mapped");
    }

    public bool TryRead(BusKind bus, ulong address, Span<byte> data)
    {
        foreach (PciBarMapping m in Mapped)
        {
            if (m.Bus == bus && address >= m.Address && address - m.Address < m.Size)
            {
                m.Region.Read(bus, address - m.Address, data);
                return true;
            }
        }
        return false;
    }

    public bool TryWrite(BusKind bus, ulong address, ReadOnlySpan<byte> data)
    {
        foreach (PciBarMapping m in Mapped)
        {
            if (m.Bus == bus && address >= m.Address && address - m.Address < m.Size)
            {
                m.Region.Write(bus, address - m.Address, data);
                return true;
            }
        }
        return false;
    }
}
