//! Giving freed heap back to the kernel.
//!
//! glibc's allocator keeps freed pages inside the heap (parsing a thousand directory
//! files at start, or a burst of transactions, leaves megabytes resident that are never
//! reused). musl's allocator, the one on the box, returns them by itself; on glibc
//! builds (developers, CI, the benchmarks) we ask for it explicitly so that resident
//! memory reflects what the gateway really holds.

/// Returns free heap pages to the kernel where the allocator keeps them.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only walks glibc's own heap bookkeeping; it takes no
        // pointers from us and is safe to call at any time from any thread.
        #[allow(unsafe_code)]
        unsafe {
            malloc_trim(0);
        }
    }
}
