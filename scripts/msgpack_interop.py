#!/usr/bin/python3
"""MessagePack interop checks for virtsim traces (traces/README.md), using the reference
msgpack-python implementation. Run with /usr/bin/python3 (Debian/Ubuntu: apt-get install python3-msgpack).

  msgpack_interop.py check TRACE          decode a virtsim-written trace and check its documented structure
  msgpack_interop.py write-sample TRACE   encode a sample trace with msgpack (virtsim's reader must accept it)
  msgpack_interop.py write-values FILE    encode a sample of every MessagePack type, edge values included

Exit status: 0 ok, 1 mismatch (message on stderr), 2 usage or missing msgpack.
"""
import sys
import zlib

try:
    import msgpack
except ImportError:
    sys.stderr.write("python3-msgpack is missing: apt-get install python3-msgpack\n")
    sys.exit(2)

PAGE_SIZE = 4096
FORMAT_VERSION = 2  # written by write-sample; check reads 1 (linear memory hashes) and 2 (page-wise)
CHUNK_BYTES_MAX = 16 * PAGE_SIZE
EVENT_DATA_BYTES_MAX = 1 << 20
M64 = (1 << 64) - 1
HEADER_KEYS = {
    "format": str, "format_version": int, "virtsim_version": str, "git_commit": str, "seed": int,
    "scenario": str, "options": dict, "origin": str, "host": (dict, type(None)), "devices": dict,
    "memory_layout": list, "checkpoint_interval_events": int,
}
# Traces written before 2026-12 name the checkpoint interval (always an event count) by this key.
LEGACY_CHECKPOINT_KEY = "checkpoint_interval_ns"
FOOTER_KEYS = {"events": int, "events_by_kind": list, "memory_hash": int, "event_hash": int, "end_time": int}


class Mismatch(Exception):
    pass


# --------------------------------------------------------------------------- StableHash64
class StableHash64:
    """Sim.Engine.Memory.StableHash64: multiply-xorshift over little-endian 8-byte words, SplitMix64 finaliser."""
    P1 = 0x9E3779B185EBCA87
    P2 = 0xC2B2AE3D27D4EB4F

    def __init__(self):
        self.state = 0x27D4EB2F165667C5
        self.length = 0

    def _mix(self, v):
        s = self.state ^ ((v * self.P2) & M64)
        s = ((s << 31) | (s >> 33)) & M64
        self.state = (s * self.P1) & M64

    def add_u64(self, v):
        self._mix(v & M64)
        self.length = (self.length + 8) & M64

    def add(self, data):
        n = len(data) // 8 * 8
        for i in range(0, n, 8):
            self._mix(int.from_bytes(data[i:i + 8], "little"))
        if n < len(data):
            tail = int.from_bytes(data[n:], "little")
            s = self.state ^ (((tail * self.P2) & M64) ^ (len(data) - n))
            s = ((s << 31) | (s >> 33)) & M64
            self.state = (s * self.P1) & M64
        self.length = (self.length + len(data)) & M64

    def finish(self):
        z = self.state ^ self.length
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)


def event_hash_add(h, kind, time, source, address, value, data):
    """Sim.Engine.Trace.TraceEventHash.Add."""
    for v in (kind, time & M64, source, address, value, len(data)):
        h.add_u64(v)
    h.add(data)


def memory_hash_linear(layout, contents):
    """Format 1 (GuestMemory.ContentHash, MemoryHashScheme.Linear): base, size and bytes of each region in
    ascending order, one chain."""
    h = StableHash64()
    for (base, size), data in zip(layout, contents):
        h.add_u64(base)
        h.add_u64(size)
        h.add(bytes(data))
    return h.finish()


def page_hash(address, page):
    """PageHash.OfPage: 0 for an all-zero page, else the hash of its guest-physical address and bytes."""
    if not any(page):
        return 0
    h = StableHash64()
    h.add_u64(address)
    h.add(bytes(page))
    return h.finish()


def memory_hash_page_wise(layout, contents):
    """Format 2 (MemoryHashScheme.PageWise): each region's base and size in ascending order, then the xor of
    every page's page_hash (a region's last page may be short)."""
    h = StableHash64()
    xor = 0
    for (base, size), data in zip(layout, contents):
        h.add_u64(base)
        h.add_u64(size)
        for off in range(0, size, PAGE_SIZE):
            xor ^= page_hash(base + off, data[off:off + PAGE_SIZE])
    h.add_u64(xor)
    return h.finish()


def memory_hash(layout, contents, version=FORMAT_VERSION):
    """The memory hash of a trace of format version `version`."""
    return memory_hash_linear(layout, contents) if version == 1 else memory_hash_page_wise(layout, contents)


# --------------------------------------------------------------------------- check
def expect(cond, msg):
    if not cond:
        raise Mismatch(msg)


def is_u64(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= M64


def is_i64(v):
    return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < (1 << 63)


def check_str_map(name, m):
    expect(isinstance(m, dict), f"header {name}: expected map, found {type(m).__name__}")
    for k, v in m.items():
        expect(isinstance(k, str) and isinstance(v, str), f"header {name}: expected str -> str, found {k!r}: {v!r}")
    keys = list(m.keys())
    expect(keys == sorted(keys), f"header {name}: keys not sorted: {keys}")


def check_header(h):
    expect(isinstance(h, dict), f"header: expected map, found {type(h).__name__}")
    if LEGACY_CHECKPOINT_KEY in h:
        expect("checkpoint_interval_events" not in h, "header: both checkpoint interval keys")
        h = {("checkpoint_interval_events" if k == LEGACY_CHECKPOINT_KEY else k): v for k, v in h.items()}
    for key, typ in HEADER_KEYS.items():
        expect(key in h, f"header: missing key {key!r}")
        expect(isinstance(h[key], typ) and not isinstance(h[key], bool), f"header {key}: expected {typ}, found {type(h[key]).__name__}")
    known = [k for k in h.keys() if k in HEADER_KEYS]  # unknown keys are allowed (forward compatible)
    expect(known == list(HEADER_KEYS.keys()), f"header: keys {known} not in documented order")
    expect(h["format"] == "virtsim-trace", f"header format: {h['format']!r}")
    expect(h["format_version"] in (1, 2), f"header format_version: {h['format_version']}")
    expect(is_u64(h["seed"]), "header seed: not a uint64")
    expect(is_i64(h["checkpoint_interval_events"]) and h["checkpoint_interval_events"] >= 0,
           "header checkpoint_interval_events: not a non-negative int64")
    check_str_map("options", h["options"])
    check_str_map("devices", h["devices"])
    expect(h["origin"] in ("simulated", "kvm"), f"header origin: {h['origin']!r}")
    if h["origin"] == "kvm":
        host = h["host"]
        expect(isinstance(host, dict), "header host: a kvm trace needs a host map")
        expect(isinstance(host.get("kernel_release"), str), "host kernel_release: expected str")
        expect(isinstance(host.get("kvm_api_version"), int), "host kvm_api_version: expected int")
        expect(isinstance(host.get("kvm_flavour"), str), "host kvm_flavour: expected str")
    layout = h["memory_layout"]
    for region in layout:
        expect(isinstance(region, list) and len(region) == 2 and all(is_u64(x) for x in region),
               f"header memory_layout: expected [base, size], found {region!r}")
    expect(layout == sorted(layout), "header memory_layout: regions not in ascending order")
    return [tuple(r) for r in layout]


def check(path):
    with open(path, "rb") as f:
        unpacker = msgpack.Unpacker(f, raw=False)
        header = next(unpacker, None)
        expect(header is not None, "empty file: expected header map")
        layout = check_header(header)

        mem = next(unpacker, None)
        expect(isinstance(mem, dict), f"memory map: expected map, found {type(mem).__name__}")
        expect(mem.get("compression") == "zlib", f"memory compression: {mem.get('compression')!r}")
        expect(mem.get("page_size") == PAGE_SIZE, f"memory page_size: {mem.get('page_size')!r}")
        expect(is_u64(mem.get("chunks")) and is_u64(mem.get("content_hash")), "memory map: chunks and content_hash must be uint64")
        small = sum(size for _, size in layout) <= 64 << 20
        contents = [bytearray(size) for _, size in layout] if small else None
        next_address = 0
        for i in range(mem["chunks"]):
            chunk = next(unpacker, None)
            expect(isinstance(chunk, list) and len(chunk) == 3, f"memory chunk {i}: expected [address, length, bin], found {chunk!r:.80}")
            address, length, data = chunk
            expect(is_u64(address) and is_u64(length) and isinstance(data, bytes), f"memory chunk {i}: wrong types")
            expect(0 < length <= CHUNK_BYTES_MAX, f"memory chunk {i}: length {length}")
            expect(address >= next_address, f"memory chunk {i}: not ascending")
            d = zlib.decompressobj()
            raw = d.decompress(data, length + 1)
            expect(d.eof and not d.unused_data and not d.unconsumed_tail,
                   f"memory chunk {i}: not exactly one complete zlib stream")
            expect(len(raw) == length, f"memory chunk {i}: inflates to {len(raw)} bytes, declares {length}")
            expect(any(raw), f"memory chunk {i}: all zero (only non-zero pages are stored)")
            region = [k for k, (base, size) in enumerate(layout) if base <= address and address + length <= base + size]
            expect(region, f"memory chunk {i}: outside the layout")
            if contents is not None:
                base = layout[region[0]][0]
                contents[region[0]][address - base:address - base + length] = raw
            next_address = address + length
        if contents is not None:
            expect(memory_hash(layout, contents, header["format_version"]) == mem["content_hash"],
                   "memory content_hash does not match the chunks")

        counts = {}
        h = StableHash64()
        time = 0
        n = 0
        footer = None
        for obj in unpacker:
            if isinstance(obj, dict):
                footer = obj
                break
            expect(isinstance(obj, list) and len(obj) == 6, f"event {n}: expected array of 6 items, found {obj!r:.80}")
            kind, delta, source, address, value, data = obj
            expect(isinstance(kind, int) and 0 <= kind <= 255, f"event {n}: kind {kind!r}")
            expect(is_i64(delta), f"event {n}: time delta {delta!r} not an int64")
            expect(isinstance(source, int) and 0 <= source <= 0xFFFFFFFF, f"event {n}: source {source!r}")
            expect(is_u64(address) and is_u64(value), f"event {n}: address/value not uint64")
            expect(isinstance(data, bytes) and len(data) <= EVENT_DATA_BYTES_MAX, f"event {n}: data is not bin")
            time = ((time + delta + (1 << 63)) & M64) - (1 << 63)  # two's-complement wrap, as the writer
            event_hash_add(h, kind, time, source, address, value, data)
            counts[kind] = counts.get(kind, 0) + 1
            n += 1
        expect(footer is not None, f"truncated trace (no footer) after {n} events")
        expect(next(unpacker, None) is None, "bytes after the footer")
        for key, typ in FOOTER_KEYS.items():
            expect(isinstance(footer.get(key), typ), f"footer {key}: expected {typ.__name__}")
        known = [k for k in footer.keys() if k in FOOTER_KEYS]
        expect(known == list(FOOTER_KEYS.keys()), f"footer: keys {known} not in documented order")
        expect(footer["events"] == n, f"footer events {footer['events']}, counted {n}")
        pairs = footer["events_by_kind"]
        expect(pairs == sorted(pairs), "footer events_by_kind: not ascending")
        expect({k: c for k, c in pairs} == counts, f"footer events_by_kind {pairs} != counted {sorted(counts.items())}")
        expect(footer["event_hash"] == h.finish(), f"footer event_hash {footer['event_hash']:#x} != computed {h.finish():#x}")
        print(f"ok: {path}: {n} events, {mem['chunks']} memory chunks, origin {header['origin']}")


# --------------------------------------------------------------------------- write-sample
SAMPLE_LAYOUT = [(0, 64 * 1024), (0x100000, 8192)]
SAMPLE_EVENTS = 100


def sample_event(i):
    """Event i of the sample trace (mirrored in MsgPackInteropTests.SampleEvent)."""
    kind = 1 + i % 18
    time = i * 1000 if i != 50 else -(1 << 63)  # one wrap-around delta
    source = (i * 2654435761) & 0xFFFFFFFF
    address = M64 - i if i % 3 == 0 else 0x1000 + i
    value = (1 << 64) - 1 if i % 5 == 0 else i * i
    data = bytes((i + k) & 0xFF for k in range(i % 9))
    if i == 99:
        data = bytes(k & 0xFF for k in range(70000))  # bin 32
    return kind, time, source, address, value, data


def write_sample(path):
    contents = [bytearray(size) for _, size in SAMPLE_LAYOUT]
    contents[0][0x2000:0x2000 + 5] = b"hello"
    for k in range(2 * PAGE_SIZE):
        contents[1][k] = (k * 31) & 0xFF
    chunks = [(0x2000, bytes(contents[0][0x2000:0x3000])), (0x100000, bytes(contents[1]))]
    packer = msgpack.Packer(use_bin_type=True)
    with open(path, "wb") as f:
        f.write(packer.pack({
            "format": "virtsim-trace", "format_version": FORMAT_VERSION, "virtsim_version": "python-sample",
            "git_commit": "unknown", "seed": M64, "scenario": "interop",
            "options": {"a": "1", "b": "é"}, "origin": "kvm",
            "host": {"kernel_release": "6.8.0-test", "kvm_api_version": 12, "kvm_flavour": "kvm-intel"},
            "devices": {"blk0": "virtio-blk"},
            "memory_layout": [list(r) for r in SAMPLE_LAYOUT],
            "checkpoint_interval_events": 0,
            "unknown_future_key": {"nested": [1, None, 2.5]},
        }))
        f.write(packer.pack({"compression": "zlib", "page_size": PAGE_SIZE, "chunks": len(chunks),
                             "content_hash": memory_hash(SAMPLE_LAYOUT, contents)}))
        for address, raw in chunks:
            f.write(packer.pack([address, len(raw), zlib.compress(raw, 9)]))
        h = StableHash64()
        counts = {}
        previous = 0
        for i in range(SAMPLE_EVENTS):
            kind, time, source, address, value, data = sample_event(i)
            delta = ((time - previous + (1 << 63)) & M64) - (1 << 63)
            previous = time
            f.write(packer.pack([kind, delta, source, address, value, data]))
            event_hash_add(h, kind, time, source, address, value, data)
            counts[kind] = counts.get(kind, 0) + 1
        f.write(packer.pack({"events": SAMPLE_EVENTS, "events_by_kind": sorted([k, c] for k, c in counts.items()),
                             "memory_hash": memory_hash(SAMPLE_LAYOUT, contents), "event_hash": h.finish(),
                             "end_time": 123456789}))


# --------------------------------------------------------------------------- write-values
def sample_values():
    """Every MessagePack type with edge values (mirrored in MsgPackInteropTests.ExpectedValues).
    Packed with msgpack-python's defaults (use_bin_type=True); the float 32 comes last."""
    ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1,
            -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63]
    strs = ["", "a", "a" * 31, "a" * 32, "a" * 255, "a" * 256, "a" * 65535, "a" * 65536, "é日本😀"]
    bins = [b"", b"\x00", bytes(range(256)) * 1, b"x" * 255, b"x" * 256, b"x" * 65535, b"x" * 65536]
    exts = [msgpack.ExtType(1, b"a"), msgpack.ExtType(2, b"ab"), msgpack.ExtType(3, b"abcd"), msgpack.ExtType(4, b"a" * 8),
            msgpack.ExtType(5, b"a" * 16), msgpack.ExtType(6, b""), msgpack.ExtType(7, b"abc"),
            msgpack.ExtType(127, b"e" * 255), msgpack.ExtType(0, b"e" * 256), msgpack.ExtType(8, b"e" * 65536),
            # Timestamp extension (type -1): timestamp 32 (fixext 4), 64 (fixext 8), 96 (ext 8 of 12 bytes).
            msgpack.Timestamp(1, 0), msgpack.Timestamp(1, 1), msgpack.Timestamp(2**34, 5)]
    containers = [[], [1, [2, [3, []]]], list(range(15)), list(range(16)), list(range(65536)),
                  {}, {"k": {"n": [1, 2, {"x": None}]}}, {f"k{i:02}": i for i in range(15)}, {f"k{i:02}": i for i in range(16)}]
    return [None, True, False] + ints + [1.5, -0.0, float("inf"), 1e308] + strs + bins + exts + containers


def write_values(path):
    packer = msgpack.Packer(use_bin_type=True)
    with open(path, "wb") as f:
        for v in sample_values():
            f.write(packer.pack(v))
        f.write(msgpack.Packer(use_single_float=True).pack(0.25))


def main(argv):
    if len(argv) != 3 or argv[1] not in ("check", "write-sample", "write-values"):
        sys.stderr.write(__doc__)
        return 2
    try:
        {"check": check, "write-sample": write_sample, "write-values": write_values}[argv[1]](argv[2])
    except Mismatch as e:
        sys.stderr.write(f"mismatch: {argv[2]}: {e}\n")
        return 1
    except (ValueError, msgpack.UnpackException, zlib.error) as e:
        sys.stderr.write(f"mismatch: {argv[2]}: undecodable: {type(e).__name__}: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
