//! Lying array counts decoded in a process with the system allocator, as Python, Node, a JVM or a C program
//! embedding core would run it (no `GuardedAllocator`). Every request the broker accepts and every response the
//! client reads is decoded from bodies whose counts claim billions of elements; the test allocator below fails
//! the test on any single allocation of 64 MiB or more, which a decoder sizing a `Vec` from such a count makes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseKind};
use potok::protocol::{decode_request, versions};

/// The system allocator, remembering the largest single request. It refuses (null, which aborts the process
/// with "memory allocation of N bytes failed") anything over the limit rather than letting a lie succeed
/// lazily on a machine with enough overcommit.
struct Watching;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
const LIMIT: usize = 64 << 20;

// SAFETY: forwards every call to `System` unchanged, except refusing (returning null) oversized requests, which
// GlobalAlloc allows.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        if layout.size() >= LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Watching = Watching;

/// Bodies that read as huge counts wherever a count is expected: every int32 and varint made of 0x7f or 0xff
/// bytes is at least hundreds of millions.
fn lying_bodies() -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    for fill in [0x7f_u8, 0xff, 0x10] {
        for len in [0, 1, 2, 4, 6, 9, 17, 40] {
            // A prefix of zeros lets the decoder get past leading strings, ids and scalars before a count.
            let mut b = vec![0u8; len];
            b.extend(std::iter::repeat_n(fill, 12));
            bodies.push(b);
        }
    }
    bodies
}

#[test]
fn lying_counts_in_requests_are_errors_not_allocations() {
    let mut decoded = 0;
    for key in 0..=100i16 {
        let Ok(api) = ApiKey::try_from(key) else { continue };
        let Some(range) = versions::supported(api) else { continue };
        for version in range.min..=range.max {
            for body in lying_bodies() {
                let mut frame = BytesMut::new();
                frame.put_i16(key);
                frame.put_i16(version);
                frame.put_i32(7);
                // Client id -1 (null), then an empty tagged-field section for flexible headers.
                frame.put_i16(-1);
                if api.request_header_version(version) >= 2 {
                    frame.put_u8(0);
                }
                frame.extend_from_slice(&body);
                // The outcome is an error or a small value; what matters is that the decoder did not ask for the lie.
                let _ = decode_request(frame.freeze());
                decoded += 1;
            }
        }
    }
    assert!(decoded > 1000, "decoded {decoded} frames");
    assert!(LARGEST.load(Ordering::Relaxed) < LIMIT, "largest allocation {}", LARGEST.load(Ordering::Relaxed));
}

#[test]
fn lying_counts_in_responses_are_errors_not_allocations() {
    let mut decoded = 0;
    for key in 0..=100i16 {
        let Ok(api) = ApiKey::try_from(key) else { continue };
        let Some(range) = versions::supported(api) else { continue };
        for version in range.min..=range.max {
            for body in lying_bodies() {
                let _ = ResponseKind::decode(api, &mut Bytes::from(body), version);
                decoded += 1;
            }
        }
    }
    assert!(decoded > 1000, "decoded {decoded} frames");
    assert!(LARGEST.load(Ordering::Relaxed) < LIMIT, "largest allocation {}", LARGEST.load(Ordering::Relaxed));
}
