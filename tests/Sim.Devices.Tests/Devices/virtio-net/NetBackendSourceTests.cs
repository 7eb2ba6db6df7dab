using Sim.Devices.Virtio.Net;
using Xunit;

namespace Sim.Devices.Tests.Net;

/// <summary>
/// The simulated link in <see cref="NetBackendMode.Source"/>: the peer that feeds the fuzzer's receive path. It is
/// environment, not device, so no device oracle can judge it (a link that offers fewer frames is a legal peer); these
/// tests hold its documented schedule, so the frame shapes the fuzzer relies on (a bare header, an ARP-sized frame,
/// one that needs large buffers) keep coming.
/// </summary>
public sealed class NetBackendSourceTests
{
    [Fact]
    public void Source_OffersEveryFrameLength_InTurn_ThenCyclesAgain()
    {
        var link = new NetBackend(NetBackendMode.Source);
        var lengths = new List<int>();
        for (int k = 0; k < NetBackend.SourceFrameLengths.Count + 2; k++)
        {
            Assert.True(link.TryPeek(out byte[] frame));
            lengths.Add(frame.Length);
            link.Dequeue();
        }
        IReadOnlyList<int> expected = NetBackend.SourceFrameLengths;
        Assert.Equal([.. expected, expected[0], expected[1]], lengths);
    }

    [Fact]
    public void Source_PeekWithoutTaking_OffersTheSameFrame_AndClearStartsTheCycleAgain()
    {
        var link = new NetBackend(NetBackendMode.Source);
        Assert.True(link.TryPeek(out byte[] first));
        Assert.True(link.TryPeek(out byte[] again));
        Assert.Same(first, again);
        link.Dequeue();
        Assert.True(link.TryPeek(out byte[] second));
        Assert.Equal(NetBackend.SourceFrameLengths[1], second.Length);
        link.Clear();
        Assert.True(link.TryPeek(out byte[] restarted));
        Assert.Equal(NetBackend.SourceFrameLengths[0], restarted.Length);
    }
}
