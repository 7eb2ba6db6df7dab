using Sim.Devices.Virtio;
using Sim.Devices.Virtio.Queue;
using Sim.Guest.Virtio;
using Sim.Spec.Virtio;
using Xunit;

namespace Sim.Devices.Tests.Queue;

/// <summary>Notification suppression both ways: VIRTIO 1.2 §2.7.7 (used buffer notifications), §2.7.10 (driver
/// notifications), QEMU virtio_should_notify / virtio_queue_set_notification, Linux kick_prepare / enable_cb.</summary>
public sealed class NotificationTests
{
    private static void Complete(RingFixture r, int count = 1)
    {
        for (int i = 0; i < count; i++)
        {
            r.AddRequest(slot: (ulong)i);
            Assert.True(r.Pop(out _));
            r.Device.Push(r.Memory, r.Element.Head, 0);
            using (r.Memory.AsGuest())
                Assert.True(r.Driver.TryGetUsed(r.Memory, out _, out _));
        }
    }

    /// <summary>Driver callbacks off, so reaping leaves used_event alone and the test can place it.</summary>
    private static void SetUsedEvent(RingFixture r, ushort value)
    {
        using (r.Memory.AsGuest())
            r.Driver.DisableCallbacks(r.Memory);
        Assert.True(RawRing.WriteUsedEvent(r.Memory, r.Layout, value));
    }

    [Fact]
    public void Spec_2_7_7_2_NotifiesWithoutNoInterruptFlag()
    {
        var r = new RingFixture();
        Complete(r);
        Assert.True(r.Device.ShouldNotify(r.Memory));
    }

    [Fact]
    public void Spec_2_7_7_2_NoInterruptFlag_SuppressesNotification()
    {
        var r = new RingFixture();
        using (r.Memory.AsGuest())
            r.Driver.DisableCallbacks(r.Memory);
        Assert.Equal(VirtioSpec.AvailFNoInterrupt, r.ReadU16(r.Layout.AvailRing));
        r.AddRequest();
        Assert.True(r.Pop(out _));
        r.Device.Push(r.Memory, r.Element.Head, 0);
        Assert.False(r.Device.ShouldNotify(r.Memory));
        using (r.Memory.AsGuest())
            Assert.False(r.Driver.EnableCallbacks(r.Memory)); // one used entry pending
        Assert.Equal(0, r.ReadU16(r.Layout.AvailRing));
        Assert.True(r.Device.ShouldNotify(r.Memory));
    }

    [Fact]
    public void Qemu_FirstEventIdxDecision_AlwaysNotifies()
    {
        var r = new RingFixture(eventIdx: true);
        SetUsedEvent(r, 100);
        Complete(r);
        Assert.False(r.Device.SignalledUsedValid);
        Assert.True(r.Device.ShouldNotify(r.Memory));
        Assert.True(r.Device.SignalledUsedValid);
        Complete(r);
        Assert.False(r.Device.ShouldNotify(r.Memory));
    }

    [Fact]
    public void Spec_2_7_7_2_NotifiesWhenUsedEventCrossed()
    {
        var r = new RingFixture(eventIdx: true);
        Complete(r);
        Assert.True(r.Device.ShouldNotify(r.Memory)); // first decision; signalled_used = 1
        SetUsedEvent(r, 2);
        Complete(r); // used.idx 2: event 2 not yet crossed (the driver wants to hear once used.idx passes 2)
        Assert.False(r.Device.ShouldNotify(r.Memory));
        Complete(r); // used.idx 3
        Assert.True(r.Device.ShouldNotify(r.Memory));
        Complete(r); // used.idx 4: event 2 already behind
        Assert.False(r.Device.ShouldNotify(r.Memory));
    }

    [Fact]
    public void Spec_2_7_7_2_BatchCrossingUsedEvent_NotifiesOnce()
    {
        var r = new RingFixture(size: 8, eventIdx: true);
        Complete(r);
        Assert.True(r.Device.ShouldNotify(r.Memory));
        SetUsedEvent(r, 3);
        Complete(r, 4); // used.idx 1 -> 5 crosses 3
        Assert.True(r.Device.ShouldNotify(r.Memory));
        Assert.False(r.Device.ShouldNotify(r.Memory));
    }

    [Fact]
    public void Qemu_FlushOvertakingSignalledUsed_InvalidatesAndNotifies()
    {
        var r = new RingFixture(size: 4, eventIdx: true);
        Complete(r);
        Assert.True(r.Device.ShouldNotify(r.Memory)); // signalled_used = 1
        SetUsedEvent(r, 0xc000);
        // Completions with no decision: once used.idx is more than 32767 past signalled_used,
        // (int16_t)(new - signalled_used) turns negative and QEMU forgets the mark.
        for (int i = 0; i < 32767; i++)
            Complete(r);
        Assert.Equal(32768, r.Device.UsedIdx.Value);
        Assert.True(r.Device.SignalledUsedValid);
        Complete(r);
        Assert.False(r.Device.SignalledUsedValid);
        Assert.True(r.Device.ShouldNotify(r.Memory)); // notifies although used_event 0xc000 was not crossed
        Assert.True(r.Device.SignalledUsedValid);
        Complete(r);
        Assert.False(r.Device.ShouldNotify(r.Memory));
    }

    [Fact]
    public void Legacy_NotifyOnEmpty_NotifiesWhenQueueRunsEmpty()
    {
        var r = new RingFixture();
        r.Device.NotifyOnEmpty = true;
        using (r.Memory.AsGuest())
            r.Driver.DisableCallbacks(r.Memory);
        Complete(r);
        Assert.True(r.Device.ShouldNotify(r.Memory));
        r.AddRequest(slot: 1);
        Assert.False(r.Device.ShouldNotify(r.Memory)); // not empty: flag applies
    }

    [Fact]
    public void Spec_2_7_10_SetNotification_TogglesNoNotifyFlag()
    {
        var r = new RingFixture();
        r.Device.SetNotification(r.Memory, false);
        Assert.Equal(VirtioSpec.UsedFNoNotify, r.ReadU16(r.Layout.UsedRing));
        r.AddRequest();
        using (r.Memory.AsGuest())
            Assert.False(r.Driver.NeedsNotify(r.Memory));
        r.Device.SetNotification(r.Memory, true);
        Assert.Equal(0, r.ReadU16(r.Layout.UsedRing));
        r.AddRequest(slot: 1);
        using (r.Memory.AsGuest())
            Assert.True(r.Driver.NeedsNotify(r.Memory));
    }

    [Fact]
    public void Spec_2_7_10_PopPublishesAvailEvent()
    {
        var r = new RingFixture(eventIdx: true);
        r.AddRequest();
        r.AddRequest(slot: 1);
        Assert.True(r.Pop(out _));
        Assert.Equal(1, r.ReadU16(r.Layout.AvailEvent));
        Assert.True(r.Pop(out _));
        Assert.Equal(2, r.ReadU16(r.Layout.AvailEvent));
    }

    [Fact]
    public void Qemu_EventIdxDisabledNotification_StopsAvailEventUpdates()
    {
        var r = new RingFixture(eventIdx: true);
        r.Device.SetNotification(r.Memory, false);
        Assert.Equal(0, r.ReadU16(r.Layout.AvailEvent));
        r.AddRequest();
        r.AddRequest(slot: 1);
        Assert.True(r.Pop(out _));
        Assert.Equal(0, r.ReadU16(r.Layout.AvailEvent));
        r.Device.SetNotification(r.Memory, true);
        Assert.Equal(2, r.ReadU16(r.Layout.AvailEvent)); // vring_set_avail_event(vq, vring_avail_idx(vq))
        Assert.False(r.Device.IsEmpty(r.Memory));
    }

    [Fact]
    public void Spec_2_7_10_DriverKicksOnlyWhenAvailEventCrossed()
    {
        var r = new RingFixture(size: 8, eventIdx: true);
        r.AddRequest();
        using (r.Memory.AsGuest())
            Assert.True(r.Driver.NeedsNotify(r.Memory)); // avail_event 0 crossed by 0 -> 1
        r.AddRequest(slot: 1);
        using (r.Memory.AsGuest())
            Assert.False(r.Driver.NeedsNotify(r.Memory)); // device has not consumed: avail_event still 0
        Assert.True(r.Pop(out _));
        Assert.True(r.Pop(out _)); // avail_event = 2
        r.AddRequest(slot: 2);
        r.AddRequest(slot: 3);
        using (r.Memory.AsGuest())
            Assert.True(r.Driver.NeedsNotify(r.Memory)); // 2 -> 4 crosses 2
    }

    [Fact]
    public void Linux_EnableCallbacks_RecheckCatchesRace()
    {
        var r = new RingFixture(eventIdx: true);
        using (r.Memory.AsGuest())
            r.Driver.DisableCallbacks(r.Memory);
        Assert.Equal(0, r.ReadU16(r.Layout.UsedEvent)); // Linux's "hack": used_event = 0
        r.AddRequest();
        Assert.True(r.Pop(out _));
        // The device completes while the driver still has callbacks off...
        r.Device.Push(r.Memory, r.Element.Head, 0);
        // ...so re-enabling must report "more used since".
        using (r.Memory.AsGuest())
        {
            Assert.False(r.Driver.EnableCallbacks(r.Memory));
            Assert.True(r.Driver.TryGetUsed(r.Memory, out _, out _));
            Assert.Equal(1, r.ReadU16(r.Layout.UsedEvent));
            Assert.True(r.Driver.EnableCallbacks(r.Memory));
        }
    }

    [Fact]
    public void Linux_EnableCallbacksDelayed_AsksForThreeQuarters()
    {
        var r = new RingFixture(size: 8, eventIdx: true);
        for (ulong i = 0; i < 4; i++)
            r.AddRequest(slot: i);
        using (r.Memory.AsGuest())
        {
            r.Driver.DisableCallbacks(r.Memory);
            Assert.True(r.Driver.EnableCallbacksDelayed(r.Memory));
        }
        Assert.Equal(3, r.ReadU16(r.Layout.UsedEvent));
        Assert.True(r.Device.ShouldNotify(r.Memory)); // first decision
        for (int i = 0; i < 3; i++)
        {
            Assert.True(r.Pop(out _));
            r.Device.Push(r.Memory, r.Element.Head, 0);
            Assert.False(r.Device.ShouldNotify(r.Memory));
        }
        Assert.True(r.Pop(out _));
        r.Device.Push(r.Memory, r.Element.Head, 0);
        Assert.True(r.Device.ShouldNotify(r.Memory)); // used.idx 4 passes 3
    }
}
