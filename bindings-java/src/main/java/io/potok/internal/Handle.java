package io.potok.internal;

import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.LongConsumer;
import java.util.function.LongFunction;

/**
 * A native handle that is never used during or after its destroy call: calls hold the read lock (so calls from
 * several threads, e.g. a consumer's {@code wakeup}, run at once), destroy takes the write lock.
 */
public final class Handle {
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock(true);
    private final LongConsumer destroy;
    private final String what;
    private long value;

    public Handle(long value, LongConsumer destroy, String what) {
        this.value = value;
        this.destroy = destroy;
        this.what = what;
    }

    /** Runs {@code call} with the live handle; a destroyed one is Kafka's IllegalStateException for a closed client. */
    public <T> T call(LongFunction<T> call) {
        lock.readLock().lock();
        try {
            if (value == 0) throw new IllegalStateException("This " + what + " has already been closed.");
            return call.apply(value);
        } finally {
            lock.readLock().unlock();
        }
    }

    public void run(LongConsumer call) {
        call(h -> {
            call.accept(h);
            return null;
        });
    }

    public boolean isDestroyed() {
        lock.readLock().lock();
        try {
            return value == 0;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Destroys the native object once; later calls fail as closed. */
    public void destroy() {
        lock.writeLock().lock();
        try {
            if (value != 0) {
                long h = value;
                value = 0;
                destroy.accept(h);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }
}
