//! Files of the durability suites: scratch directories (removed on drop), sizes of what an
//! engine wrote, and dropping a directory's files from the page cache so a restart reads them
//! from the disk ("cold"), without touching anything else on the machine (`posix_fadvise
//! DONTNEED` on those files only, after an fsync so no page is dirty).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A directory removed (with its contents) when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A fresh directory `<parent>/nestdb-bench-<pid>-<name>` (replacing any leftover).
    pub fn new(parent: &Path, name: &str) -> Result<Scratch, String> {
        let path = parent.join(format!("nestdb-bench-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Scratch { path })
    }

    /// A fresh subdirectory.
    pub fn sub(&self, name: &str) -> Result<PathBuf, String> {
        let p = self.path.join(name);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Wait until no handle of this process holds the database directory `dir` open: its LOCK file
/// can be locked. Dropping the last `Db` handle does not always close the database at once (the
/// core's background thread may hold a transient reference and then close it, which includes
/// freeing every key), and a timed reopen must not include that. Returns the time waited.
pub fn wait_closed(dir: &Path, timeout: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    let path = dir.join("LOCK");
    loop {
        let f = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        match f.try_lock() {
            Ok(()) => return Ok(start.elapsed()),
            Err(std::fs::TryLockError::WouldBlock) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("{}: still locked after {:?}: {e}", path.display(), start.elapsed())),
        }
    }
}

/// Regular files under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Total size of the files under `dir` whose name satisfies `pick`.
pub fn size_where(dir: &Path, pick: impl Fn(&str) -> bool) -> u64 {
    files(dir)
        .iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&pick))
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// "name size, name size" of the files under `dir` (for the record of what was measured).
pub fn listing(dir: &Path) -> String {
    files(dir)
        .iter()
        .filter_map(|p| {
            let len = std::fs::metadata(p).ok()?.len();
            let name = p.strip_prefix(dir).ok()?.display().to_string();
            Some(format!("{name} {len}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Drop every file under `dir` from the page cache. Returns the bytes advised and the largest
/// fraction of a file still cached afterwards (the kernel may keep pages another process maps).
pub fn evict(dir: &Path) -> Result<(u64, f64), String> {
    use std::os::fd::AsRawFd;
    let (mut total, mut left) = (0, 0f64);
    for p in files(dir) {
        let f = std::fs::File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        f.sync_all().map_err(|e| format!("fsync {}: {e}", p.display()))?;
        // SAFETY: a valid open descriptor; offset 0, length 0 = the whole file.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if rc != 0 {
            return Err(format!("posix_fadvise {}: error {rc}", p.display()));
        }
        total += f.metadata().map(|m| m.len()).unwrap_or(0);
        left = left.max(cached_fraction(&p).unwrap_or(0.0));
    }
    Ok((total, left))
}

/// Pages of `path` resident in the page cache, as a fraction (0..=1); None if unknown.
fn cached_fraction(path: &Path) -> Option<f64> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).ok()?;
    let len = usize::try_from(f.metadata().ok()?.len()).ok()?;
    if len == 0 {
        return Some(0.0);
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    // SAFETY: a read-only shared mapping of an open file of `len` bytes; unmapped below.
    let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0) };
    if addr == libc::MAP_FAILED {
        return None;
    }
    let mut vec = vec![0u8; len.div_ceil(page)];
    // SAFETY: `addr` maps `len` bytes; `vec` holds one byte per page of it.
    let rc = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(addr, len) };
    (rc == 0).then(|| vec.iter().filter(|b| *b & 1 != 0).count() as f64 / vec.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_sizes_and_eviction() {
        let s = Scratch::new(&std::env::temp_dir(), "files-test").expect("scratch");
        let d = s.sub("a").expect("sub");
        std::fs::create_dir_all(d.join("inner")).expect("mkdir");
        std::fs::write(d.join("x.log"), vec![7u8; 3 << 20]).expect("write");
        std::fs::write(d.join("inner/y.snap"), b"abc").expect("write");
        assert_eq!(size_where(&d, |n| n.ends_with(".log")), 3 << 20);
        assert_eq!(size_where(&d, |_| true), (3 << 20) + 3);
        assert!(listing(&d).contains("x.log 3145728"), "{}", listing(&d));
        assert_eq!(cached_fraction(&d.join("x.log")), Some(1.0), "just written: in the page cache");
        let (bytes, left) = evict(&d).expect("evict");
        assert_eq!(bytes, (3 << 20) + 3);
        // After DONTNEED the clean pages are gone (the kernel may keep a few around).
        assert!(left < 0.5, "{left}");
        let path = d.clone();
        drop(s);
        assert!(!path.exists());
    }
}
