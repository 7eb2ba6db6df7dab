namespace Virtsim.Fuzz.Oracles;

/// <summary>
/// Told by <see cref="VirtqueueChecker"/> of each used entry the device publishes, before the chain is forgotten: the
/// head, the used.len, and the chain's readable and writable buffers in descriptor order as the checker walked them
/// (each distinct buffer once). <c>plain</c> is true when that walk is the device's view without doubt: the
/// chain was fetched once, has no indirect table, reaches no buffer twice (two descriptors with one address and
/// length), was not given new buffers by a device store into the descriptor table while in flight (a used ring over
/// the table), and no buffer overlaps the descriptor table or a ring (otherwise the checker's permissive union walk may
/// hold buffers the device never used, or hold once a buffer the device used twice, and ring stores may have changed
/// the buffers' bytes).
/// </summary>
internal interface ICompletionObserver
{
    void OnCompleted(int head, uint usedLen, RangeList readable, RangeList writable, bool plain);
}
