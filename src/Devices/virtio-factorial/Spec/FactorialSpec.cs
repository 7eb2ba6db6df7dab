namespace Sim.Spec.Factorial;

/// <summary>
/// Identity and request layout of the factorial device of seed 001 (QEMU 7.2 hw/virtio/virtio-test.c,
/// "virtio-test-device"), shared by the device model and its driver.
/// </summary>
public static class FactorialSpec
{
    /// <summary>VIRTIO_ID_TEST (seed: include/uapi/linux/virtio_ids.h).</summary>
    public const ushort VirtioIdTest = 45;

    /// <summary>VIRTIO_TEST_F_CAN_PRINT.</summary>
    public const int FeatureCanPrint = 0;

    /// <summary>Size of arg2 in struct test_request.</summary>
    public const int Arg2Size = 32;

    /// <summary>struct test_request: arg1 (le32) + arg2 (char[32]) = 36 bytes.</summary>
    public const int RequestSize = 4 + Arg2Size;

    /// <summary>struct test_response: ret (le32).</summary>
    public const int ResponseSize = 4;
}
