using System.Buffers.Binary;
using System.Diagnostics;
using Sim.Devices.Vhost;
using Sim.Devices.Virtio.Demo;
using Sim.Kvm.KernelVhost;
using Sim.Spec.Virtio;

namespace Virtsim.LabAgent;

/// <summary>
/// <c>vhost-demo-smoke --device /dev/vhost-demo</c>: lab/vhost-demo's data path through the real vhost ioctls and
/// eventfds, without a guest: one split ring (VIRTIO 1.2 §2.7) built in this process's memory, requests
/// {opt, buff} of every kind (read, store, an unknown opt, a short request), each kicked and waited for on the call
/// eventfd; every response and used-ring length is checked against the model's rule (<see cref="DemoProtocol"/> from
/// <see cref="VhostDemo.InitialBuff"/>; a short request completes with used.len 0 and writes nothing).
/// </summary>
internal static class VhostDemoSmoke
{
    private const ulong Base = 0x7e00_0000_0000;
    private const ulong Size = 0x8000;
    private const uint QueueSize = 8;
    private const ulong Desc = 0x0000,
        Avail = 0x1000,
        Used = 0x2000,
        Buffers = 0x3000;
    private const ushort FNext = 1,
        FWrite = 2;

    public static int Run(string device)
    {
        using var mem = new FixedMapping(Base, Size);
        using var dev = new KernelVhostDevice(device);
        using var kick = new EventFdHandle();
        using var call = new EventFdHandle();
        Span<byte> m = mem.Bytes;
        SetUpQueue(dev, kick, call);

        uint state = VhostDemo.InitialBuff;
        (uint Opt, uint Buff, uint OutLen)[] requests =
        [
            (0, 0, 8),
            (1, 0x2333, 8),
            (0, 0, 8),
            (7, 5, 8),
            (1, 0x4444, 4),
            (0, 0, 8),
        ];
        int failures = 0;
        Span<byte> expect = stackalloc byte[8];
        for (int i = 0; i < requests.Length; i++)
        {
            (uint opt, uint buff, uint outLen) = requests[i];
            ushort head = (ushort)((2 * i) % QueueSize);
            ulong req = Buffers + (32UL * (ulong)i),
                resp = req + 16;
            BinaryPrimitives.WriteUInt32LittleEndian(m[(int)req..], opt);
            BinaryPrimitives.WriteUInt32LittleEndian(m[(int)(req + 4)..], buff);
            m.Slice((int)resp, 8).Fill(0xEE);
            WriteDesc(m, head, req, outLen, FNext, (ushort)(head + 1));
            WriteDesc(m, (ushort)(head + 1), resp, 8, FWrite, 0);
            ushort idx = BinaryPrimitives.ReadUInt16LittleEndian(m[(int)(Avail + 2)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(m[(int)(Avail + 4 + (2 * (idx % QueueSize)))..], head);
            Thread.MemoryBarrier();
            BinaryPrimitives.WriteUInt16LittleEndian(m[(int)(Avail + 2)..], (ushort)(idx + 1));
            kick.Signal();
            if (!WaitCall(call, m, (ushort)(idx + 1)))
            {
                Console.WriteLine($"request {i}: no used entry within 10 s");
                return 1;
            }
            ulong elem = Used + 4 + (8UL * (ulong)(idx % QueueSize));
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(m[(int)elem..]);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(m[(int)(elem + 4)..]);
            uint expectLen = ModelAnswer(ref state, m.Slice((int)req, 8), outLen, expect);
            bool ok = id == head && len == expectLen && m.Slice((int)resp, 8).SequenceEqual(expect);
            Console.WriteLine(
                $"request {i}: opt={opt} buff=0x{buff:x} out={outLen} -> used id={id} len={len} "
                    + $"response={Convert.ToHexString(m.Slice((int)resp, 8))} model len={expectLen} "
                    + $"response={Convert.ToHexString(expect)} {(ok ? "OK" : "MISMATCH")}"
            );
            if (!ok)
                failures++;
        }
        Expect("SET_BACKEND(-1)", dev.SetBackend(0, -1));
        Console.WriteLine(
            failures == 0
                ? "vhost-demo-smoke: all responses match the model"
                : $"vhost-demo-smoke: {failures} mismatches"
        );
        return failures == 0 ? 0 : 1;
    }

    /// <summary>The vhost set-up QEMU does for one queue: owner, features, memory table, vring size, base and
    /// addresses, kick and call eventfds, then the backend.</summary>
    private static void SetUpQueue(KernelVhostDevice dev, EventFdHandle kick, EventFdHandle call)
    {
        Expect("SET_OWNER", dev.SetOwner());
        Expect("GET_FEATURES", dev.GetFeatures(out ulong features));
        // VERSION_1 only: no EVENT_IDX.
        Expect("SET_FEATURES", dev.SetFeatures(features & (1UL << Sim.Spec.Virtio.VirtioSpec.FVersion1)));
        Expect("SET_MEM_TABLE", dev.SetMemTable([new VhostMemoryRegion(0, Size, Base)], 0));
        Expect("SET_VRING_NUM", dev.SetVringNum(0, QueueSize));
        Expect("SET_VRING_BASE", dev.SetVringBase(0, 0));
        Expect("SET_VRING_ADDR", dev.SetVringAddr(0, new VhostVringAddr(Base + Desc, Base + Avail, Base + Used)));
        Expect("SET_VRING_KICK", dev.SetVringFd(VhostIoctl.SetVringKick, 0, kick.Fd));
        Expect("SET_VRING_CALL", dev.SetVringFd(VhostIoctl.SetVringCall, 0, call.Fd));
        Expect("SET_BACKEND", dev.SetBackend(0, kick.Fd));
    }

    /// <summary>The model's answer to one request: the response it writes into <paramref name="expect"/> and its
    /// used length (0, the response left at its fill, when the request is too short).</summary>
    private static uint ModelAnswer(ref uint state, ReadOnlySpan<byte> request, uint outLen, Span<byte> expect)
    {
        if (outLen < DemoProtocol.RequestSize)
        {
            expect.Fill(0xEE);
            return 0;
        }
        DemoProtocol.Apply(ref state, request, expect, out _, out _);
        return DemoProtocol.ResponseSize;
    }

    private static void WriteDesc(Span<byte> m, ushort index, ulong addr, uint len, ushort flags, ushort next)
    {
        Span<byte> d = m.Slice((int)(Desc + (16UL * index)), 16);
        // A guest-physical address: the memory table maps GPA 0 at Base.
        BinaryPrimitives.WriteUInt64LittleEndian(d, addr);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], len);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], flags);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], next);
    }

    private static bool WaitCall(EventFdHandle call, Span<byte> m, ushort usedIdx)
    {
        long t0 = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(t0).TotalSeconds < 10)
        {
            call.Drain();
            Thread.MemoryBarrier();
            if (BinaryPrimitives.ReadUInt16LittleEndian(m[(int)(Used + 2)..]) == usedIdx)
                return true;
            Thread.Sleep(1);
        }
        return false;
    }

    private static void Expect(string ioctl, VhostResult r)
    {
        if (r != VhostResult.Ok)
            throw new KernelVhostException($"{ioctl} returned {Errno.Name((int)r)}");
    }
}
