//! Cache prefetch hints: for walks over many cold objects (broadcast fan-out), and for the
//! state a session's packet will touch, started before the read that brings the packet.

/// Asks the CPU to start loading the cache line at `ptr`. A hint only: it never faults and
/// changes nothing observable, whatever the address. A no-op off x86-64.
#[inline]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` reads no memory architecturally and cannot fault, for any
    // address; SSE is part of the x86-64 baseline. Measured: broadcast to 10,000 sockets
    // (see BENCHMARKS.md) gains from overlapping the receivers' cache misses.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// [`prefetch`]es every cache line the `T` at `ptr` overlaps. `ptr` need not be valid: the
/// addresses are only computed (wrapping) and hinted, never dereferenced.
#[inline]
pub(crate) fn prefetch_object<T>(ptr: *const T) {
    const LINE: usize = 64;
    let start = ptr.cast::<u8>();
    // From the start of the first line: an object need not begin on one.
    let into_line = start.addr() % LINE;
    let first_line = start.wrapping_sub(into_line);
    for offset in (0..std::mem::size_of::<T>() + into_line).step_by(LINE) {
        prefetch(first_line.wrapping_add(offset));
    }
}
