package io.potok.internal;

/**
 * What the native consumer calls back, on the thread driving the consumer (inside poll, commitSync, close).
 * Implementations catch what user code throws and keep it for the calling method to rethrow.
 */
public interface ConsumerCallbacks {
    /** {@code event}: 1 assigned, 2 revoked, 3 lost ({@code potok_rebalance_event}). */
    void onRebalance(int event, String[] topics, int[] partitions);

    /** The outcome of commitAsync call {@code token}; {@code error} null on success. */
    void onCommit(long token, String[] topics, int[] partitions, long[] offsets, String[] metadata,
            RuntimeException error);
}
