//! C ABI for nestdb (filled in by the C ABI issue).
