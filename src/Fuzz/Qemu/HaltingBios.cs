namespace Virtsim.Fuzz.Qemu;

/// <summary>
/// The firmware image the machine boots: 64 KiB, mapped by QEMU just below 4 GiB, whose reset vector (the last 16
/// bytes, physical 0xFFFFFFF0) is <c>cli; hlt; jmp $-1</c>. The vCPU halts at once and stays halted (interrupts
/// masked), so every device access comes from qtest and none from guest code.
/// </summary>
internal static class HaltingBios
{
    public const int SizeBytes = 64 * 1024;

    /// <summary>Offset of the reset vector in the image (it is mapped so that its end is at 4 GiB).</summary>
    public const int ResetVectorOffset = SizeBytes - 16;

    public static byte[] Image()
    {
        byte[] image = new byte[SizeBytes];
        // cli (FA), hlt (F4), jmp short -3 (EB FD) back to the hlt: an NMI or SMI wakes it only to halt again.
        ReadOnlySpan<byte> code = [0xFA, 0xF4, 0xEB, 0xFD];
        code.CopyTo(image.AsSpan(ResetVectorOffset));
        return image;
    }
}
