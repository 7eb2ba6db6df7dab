using Virtsim.Fuzz.Oracles;
using Virtsim.Fuzz.Qemu;
using Xunit;

namespace Fuzz.Tests.Qemu;

/// <summary>
/// The site of a real-QEMU crash (issue 12 item 6): QEMU's stderr and exit are classified into a stable site, so the
/// known QEMU 7.2 aborts (NetQemu72Differences.KnownBugs, Qemu72Differences.KnownBugs) are distinct findings and a run
/// detail (addresses, pids, line numbers, paths) never splits one. Samples only: no QEMU runs here (the collection is
/// the real-QEMU one all the same, as every class under Qemu/).
/// </summary>
[Collection(RealQemuCollection.Name)]
public sealed class QemuCrashSiteTests
{
    private const string Signal6 = "killed by signal 6";

    /// <summary>The tail of a net run's stderr: qtest's replies, then glibc's assertion line.</summary>
    private const string IovFromBufFull =
        "[R +0.081237] writew 0xc010 0x0\n[S +0.081244] OK\n"
        + "qemu-system-x86_64: ../util/iov.c:39: iov_from_buf_full: Assertion `offset == 0' failed.\n";

    private const string IovCopy =
        "qemu-system-x86_64: /build/qemu-7.2+dfsg/util/iov.c:269: iov_copy: Assertion `offset == 0' failed.\n";

    private const string StwCached =
        "qemu-system-x86_64: /build/qemu/include/exec/memory_ldst_cached.h.inc:88: address_space_stw_le_cached: "
        + "Assertion `addr < cache->len && 2 <= cache->len - addr' failed.\n";

    [Theory]
    [InlineData(IovFromBufFull, Signal6, "qemu/died/assert/iov_from_buf_full")]
    [InlineData(IovCopy, Signal6, "qemu/died/assert/iov_copy")]
    [InlineData(StwCached, Signal6, "qemu/died/assert/address_space_stw_le_cached")]
    // GLib's g_assert and g_assert_not_reached.
    [InlineData(
        "**\nERROR:../hw/virtio/virtio.c:1203:virtqueue_split_pop: assertion failed: (elem->in_num <= max)\n"
            + "Bail out! ERROR:../hw/virtio/virtio.c:1203:virtqueue_split_pop: assertion failed\n",
        Signal6,
        "qemu/died/assert/virtqueue_split_pop"
    )]
    [InlineData(
        "**\nERROR:../hw/net/virtio-net.c:2710:virtio_net_flush_tx: code should not be reached\n",
        Signal6,
        "qemu/died/assert/virtio_net_flush_tx"
    )]
    // A C++ signature reduces to its name.
    [InlineData("a.cc:7: void ns::f(int): Assertion `x' failed.\n", Signal6, "qemu/died/assert/ns::f")]
    [InlineData("qemu: hardware error: pci: bad BAR 0x1000\nCPU #0:\n", Signal6, "qemu/died/hw-error")]
    [InlineData("[R +0.1] readb 0xc014\n", "killed by signal 11", "qemu/died/signal/SIGSEGV")]
    [InlineData("", "killed by signal 6", "qemu/died/signal/SIGABRT")]
    [InlineData("", "killed by signal 31", "qemu/died/signal/SIG31")]
    [InlineData(
        "qemu-system-x86_64: virtio: bogus descriptor or out of resources at 0x7f3a12c4e000 (len 4096)\n",
        "exit code 1",
        "qemu/died/exit-1/virtio-bogus-descriptor-or-out-of-resources-at-n"
    )]
    [InlineData("", "exit code 1", "qemu/died/exit-1")]
    [InlineData("", "running", "qemu/died/unknown")]
    [InlineData("", "not started", "qemu/died/unknown")]
    public void Classify_NamesHowQemuDied(string stderr, string exit, string site) =>
        Assert.Equal(site, QemuCrashSite.Classify(stderr, exit));

    [Fact]
    public void Classify_TheKnownAborts_AreDistinctSites_EachWithItsOwnRule()
    {
        string[] sites =
        [
            QemuCrashSite.Classify(IovFromBufFull, Signal6),
            QemuCrashSite.Classify(IovCopy, Signal6),
            QemuCrashSite.Classify(StwCached, Signal6),
        ];
        Assert.Equal(sites.Length, sites.Distinct(StringComparer.Ordinal).Count());
        Assert.All(sites, s => Assert.Equal(s, OracleRules.ForSite(s)!.Site));
        // Every other cause falls back to the family rule.
        Assert.Equal("qemu/died/", OracleRules.ForSite(QemuCrashSite.Classify("", "killed by signal 11"))!.Site);
        // The known-bug texts the bounded passes tolerate (the end of glibc's line) classify as assertions.
        Assert.All(NetQemu72Differences.KnownBugs, b =>
            Assert.StartsWith(
                "qemu/died/assert/",
                QemuCrashSite.Classify("qemu-system-x86_64: ../util/iov.c:1: " + b.Stderr + ".\n", Signal6)
            )
        );
    }

    [Fact]
    public void Classify_IgnoresRunDetails_AndTakesTheLastAssertion()
    {
        // Another build path, line number, pid and address: the same site.
        string a = QemuCrashSite.Classify(
            "qemu-system-x86_64: virtio: zero sized buffers are not allowed at 0x1234 (pid 4242)\n",
            "exit code 1"
        );
        string b = QemuCrashSite.Classify(
            "qemu-system-x86_64: virtio: zero sized buffers are not allowed at 0xfff0 (pid 77)\n",
            "exit code 1"
        );
        Assert.Equal(a, b);
        Assert.Equal(
            QemuCrashSite.Classify(IovCopy, Signal6),
            QemuCrashSite.Classify(IovCopy.Replace(":269:", ":271:", StringComparison.Ordinal), Signal6)
        );
        // The tail may start inside an older line; the last assertion is the one that killed QEMU.
        Assert.Equal("qemu/died/assert/iov_copy", QemuCrashSite.Classify(StwCached + IovCopy, Signal6));
        // A message is cut to its bound.
        string longer = QemuCrashSite.Classify("qemu-system-x86_64: " + new string('a', 300) + "\n", "exit code 1");
        Assert.True(longer.Length <= "qemu/died/exit-1/".Length + QemuCrashSite.MessageMax, longer);
    }
}
