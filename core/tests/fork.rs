//! A child forked after a database was opened may read its copy but must not write the
//! parent's files. Alone in its own test binary: fork() while other tests' threads hold locks
//! would deadlock the child in unrelated code.

use nestdb::{Commands, Db, Options, Reply};

#[test]
fn forked_child_reads_but_cannot_write_its_parents_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("db"), Options::default()).unwrap();
    db.set(b"k", b"parent").unwrap();
    let other = tempfile::tempdir().unwrap();
    // SAFETY: the child only runs nestdb calls and then _exit()s without unwinding.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let ok_read = db.get(b"k").ok().flatten().as_deref() == Some(&b"parent"[..]);
        let refused = matches!(db.execute(&[b"SET", b"k", b"child"]), Reply::Error(e) if e.contains("fork"));
        // A database opened in the child itself is writable.
        let own = Db::open(other.path().join("child-db"), Options::default()).and_then(|d| d.set(b"x", b"1")).is_ok();
        let code = if ok_read && refused && own { 0 } else { 1 };
        std::mem::forget(db);
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child status {status}");
    db.set(b"k", b"still-writable").unwrap();
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"still-writable"[..]));
}
