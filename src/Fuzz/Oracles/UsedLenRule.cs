namespace Virtsim.Fuzz.Oracles;

/// <summary>What bounds used.len in <see cref="VirtqueueChecker"/>.</summary>
internal enum UsedLenRule : byte
{
    /// <summary>VIRTIO 1.2 §2.7.8.2: used.len ≤ the bytes the device actually wrote into the chain's writable
    /// buffers.</summary>
    Written = 0,

    /// <summary>used.len ≤ the writable bytes the chain offers: the sum of its device-writable descriptors' lengths,
    /// two descriptors over the same bytes counted twice. QEMU virtio-blk completes with req-&gt;in_len (iov_size of
    /// the element's in_sg, every writable byte offered) even when an error left most of them unwritten — a
    /// documented, legitimate difference the checker accepts for that device only.</summary>
    Offered = 1,
}
