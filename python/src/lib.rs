//! Python bindings for nestdb (filled in by the Python issue).
