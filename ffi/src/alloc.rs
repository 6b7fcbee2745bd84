//! The C heap: memory the library hands to the caller comes from `malloc`, so each returned
//! object is one block that one `free` releases (a whole reply tree is a single block, see
//! `reply.rs`), and ASan/valgrind see it like the program's own allocations.
//!
//! Callers must still free through the library (`nestdb_reply_free`, `nestdb_free`) — the
//! header promises nothing about which allocator backs these, so it can change (e.g. on a
//! platform with several C runtimes).

use std::ffi::c_void;

extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
}

/// `size` bytes from the C heap, aligned for any type (malloc's guarantee); NULL when out of
/// memory. `size` 0 is rounded up to 1 so success is never NULL.
pub(crate) fn c_alloc(size: usize) -> *mut u8 {
    // SAFETY: malloc has no preconditions.
    unsafe { malloc(size.max(1)).cast() }
}

/// Release a block from `c_alloc` (NULL is a no-op).
///
/// # Safety
/// `ptr` is NULL or came from `c_alloc` and was not released yet.
pub(crate) unsafe fn c_free(ptr: *mut c_void) {
    // SAFETY: forwarded from the caller.
    unsafe { free(ptr) }
}

/// Free memory that the library allocated and handed to you through an output parameter
/// (`char **` outputs such as the report of nestdb_repair()).
///
/// Do not use it for a nestdb_reply (use nestdb_reply_free()), a handle (use nestdb_close())
/// or the `const char *` strings the library lends (nestdb_errmsg(), nestdb_errstr(),
/// nestdb_libversion()), which are never freed.
///
/// @param p  memory from the library, or NULL (a no-op). Passing anything else is undefined.
#[no_mangle]
pub unsafe extern "C" fn nestdb_free(p: *mut c_void) {
    // No panic can happen here: free is C and NULL is allowed.
    // SAFETY: the caller passes NULL or a pointer the library allocated with `c_alloc`.
    unsafe { c_free(p) }
}
