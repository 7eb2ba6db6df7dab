using System.Runtime.InteropServices;

namespace Virtsim.Fuzz.Glue;

/// <summary>System V shared memory (<c>shmget</c>/<c>shmat</c>/<c>shmdt</c>/<c>shmctl</c>, glibc), the segment kind
/// afl-fuzz creates for its coverage map (<c>__AFL_SHM_ID</c>) and our libFuzzer driver creates for its map and
/// input (<c>__LIBFUZZER_SHM_ID</c>). Blittable signatures only, so no marshalling code (and no <c>unsafe</c>) is
/// needed.</summary>
internal static class SharedMemoryNative
{
    public const int IpcPrivate = 0;

    /// <summary><c>IPC_CREAT | IPC_EXCL | 0600</c>: a fresh segment only its owner may attach.</summary>
    public const int CreateExclusiveOwnerOnly = 0x200 | 0x400 | 0x180;

    public const int IpcRemove = 0;

    // DllImport with blittable arguments needs no generated marshalling (and LibraryImport would need
    // AllowUnsafeBlocks).
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "shmget", SetLastError = true)]
    public static extern int ShmGet(int key, nuint size, int flags);

    [DllImport("libc", EntryPoint = "shmat", SetLastError = true)]
    public static extern nint ShmAt(int id, nint address, int flags);

    [DllImport("libc", EntryPoint = "shmdt", SetLastError = true)]
    public static extern int ShmDt(nint address);

    [DllImport("libc", EntryPoint = "shmctl", SetLastError = true)]
    public static extern int ShmCtl(int id, int command, nint buffer);
#pragma warning restore SYSLIB1054
}
