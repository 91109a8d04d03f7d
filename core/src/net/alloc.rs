//! A global allocator that keeps a lying length prefix from killing the process.
//!
//! The `kafka-protocol` crate (0.18) sizes a `Vec` from an array count read off the wire before decoding a
//! single element, so an 8-byte request claiming two billion topics asks for ~150 GB up front; the system
//! allocator refuses, and Rust aborts the process. Until the crate bounds that capacity (upstream pull
//! requests are open), processes that serve untrusted peers install this allocator: requests of 1 GiB or more
//! are served by an anonymous `MAP_NORESERVE` mapping, which reserves address space only. Decoding then fails
//! on the first missing element, the `Vec` is dropped, and the mapping is returned untouched. Smaller
//! requests go to the system allocator unchanged.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations of at least this many bytes are mapped lazily.
const LAZY_THRESHOLD: usize = 1 << 30;
const PAGE: usize = 4096;

/// Install with `#[global_allocator] static ALLOC: potok::net::alloc::GuardedAllocator = GuardedAllocator;`.
#[derive(Debug, Default, Clone, Copy)]
pub struct GuardedAllocator;

fn lazy(layout: &Layout) -> bool {
    layout.size() >= LAZY_THRESHOLD && layout.align() <= PAGE
}

#[allow(unsafe_code)]
// SAFETY: every method upholds GlobalAlloc's contract: lazily mapped blocks are page aligned (meeting any
// alignment up to a page, which `lazy` checks), zero-filled, at least `size` bytes, and only ever released by
// `dealloc`/`realloc` with the same layout, which routes them back to munmap; everything else is delegated to
// `System` with the caller's arguments untouched.
unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !lazy(&layout) {
            // SAFETY: forwarded with the caller's (valid, non-zero-size) layout.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: an anonymous private mapping with no address hint has no preconditions.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if lazy(&layout) {
            // SAFETY: anonymous mappings are zero-filled; same contract as alloc.
            return unsafe { self.alloc(layout) };
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if lazy(&layout) {
            // SAFETY: `ptr` came from our mmap of exactly `layout.size()` bytes (same layout, by contract).
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: `ptr` came from System with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is valid for `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !lazy(&layout) && !lazy(&new_layout) {
            // SAFETY: both sides are System's; forwarded unchanged.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: a fresh block from this allocator, then a copy of the bytes both blocks have, then the old
        // block released with its own layout.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}
