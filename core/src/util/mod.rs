//! Small pure helpers: Redis number parsing/formatting, glob matching, RESP command encoding.

pub(crate) mod csort;
pub(crate) mod glob;
pub(crate) mod ldouble;
pub(crate) mod num;
pub(crate) mod resp;

/// Ask the CPU to start loading the cache line at `p` (a hint: it never faults, whatever the
/// address, and changes nothing). Lookups that know their next addresses early issue these so
/// that several cache misses overlap instead of coming one after another.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
