//! Generates `include/nestdb.h` from this crate's exports with cbindgen (pinned in Cargo.toml),
//! using `ffi/cbindgen.toml` — the same result as
//! `cbindgen --config ffi/cbindgen.toml --crate nestdb-ffi --output include/nestdb.h ffi`
//! run from the repository root.
//!
//! The header is committed; `tests/c/run.sh` fails when a build changes it. The file is only
//! rewritten when its content differs, so an up-to-date header keeps its mtime. A read-only
//! source tree (a vendored copy) gets a warning instead of a failed build.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("..").join("include").join("nestdb.h");
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // A hand-edited (or deleted) header is regenerated on the next build.
    println!("cargo:rerun-if-changed={}", header.display());

    let config = match cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => panic!("ffi/cbindgen.toml: {e}"),
    };
    let bindings = match cbindgen::Builder::new().with_crate(&crate_dir).with_config(config).generate() {
        Ok(b) => b,
        Err(e) => panic!("cbindgen could not generate include/nestdb.h: {e}"),
    };
    if let Some(dir) = header.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            println!("cargo:warning=cannot create {}: {e}", dir.display());
            return;
        }
    }
    // write_to_file compares first and writes only on a change.
    let writable = std::fs::metadata(&header).map(|m| !m.permissions().readonly()).unwrap_or(true);
    if writable {
        bindings.write_to_file(&header);
    } else {
        println!("cargo:warning={} is read-only; not regenerated", header.display());
    }
}
