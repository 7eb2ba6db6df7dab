namespace Sim.Kvm.Tests;

/// <summary>The GSI routing table the recorder installs for MSI irqfds keeps the irqchip's default pin routes
/// (KVM_SET_GSI_ROUTING replaces the whole table).</summary>
public class GsiRouteTests
{
    [Fact]
    public void DefaultPins_AreLinuxsDefaultTable()
    {
        List<GsiRoute> routes = GsiRoute.DefaultPins();
        Assert.Equal(16 * 2 + 8, routes.Count); // GSI 0-15 on the IOAPIC and an 8259, 16-23 on the IOAPIC only
        for (uint gsi = 0; gsi < 24; gsi++)
            Assert.Equal(gsi < 16 ? 2 : 1, routes.Count(r => r.Gsi == gsi));
        Assert.DoesNotContain(routes, r => r.IsMsi);
    }

    [Fact]
    public void MsiRoute_CarriesItsMessage()
    {
        GsiRoute r = GsiRoute.Msi(25, 0xFEE0_0000, 0x39);
        Assert.True(r.IsMsi);
        Assert.Equal(25u, r.Gsi);
        Assert.Equal(0x39u, r.MsiData);
    }
}
