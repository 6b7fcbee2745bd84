//! RESP encoding and decoding of commands (arrays of bulk strings): the payload of KV log
//! records, so a log segment's payloads can be fed to `redis-cli --pipe`.

use super::num::fmt_u64;

/// Append `argv` as a RESP array of bulk strings.
pub(crate) fn encode_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, argv: &[A]) {
    let mut num = itoa_buf();
    // One reservation for the whole command: `*n\r\n` plus `$len\r\n<arg>\r\n` per argument.
    out.reserve(16 + argv.iter().map(|a| a.as_ref().len() + 16).sum::<usize>());
    out.push(b'*');
    out.extend_from_slice(fmt_u64(&mut num, argv.len() as u64));
    out.extend_from_slice(b"\r\n");
    for a in argv {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(fmt_u64(&mut num, a.len() as u64));
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Decode the commands in `buf` (a concatenation of RESP arrays of bulk strings). Errors name
/// the byte offset of the first malformed command.
pub(crate) fn decode_commands(buf: &[u8]) -> Result<Vec<Vec<&[u8]>>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let start = pos;
        let bad = |what: &str| format!("malformed command at payload offset {start}: {what}");
        let n = read_prefixed(buf, &mut pos, b'*').ok_or_else(|| bad("expected '*<count>'"))?;
        if n == 0 || n > buf.len() {
            return Err(bad("bad argument count"));
        }
        let mut argv = Vec::with_capacity(n);
        for _ in 0..n {
            let len = read_prefixed(buf, &mut pos, b'$').ok_or_else(|| bad("expected '$<len>'"))?;
            let end = pos.checked_add(len).filter(|&e| e + 2 <= buf.len()).ok_or_else(|| bad("argument runs past the end"))?;
            if &buf[end..end + 2] != b"\r\n" {
                return Err(bad("argument not terminated by CRLF"));
            }
            argv.push(&buf[pos..end]);
            pos = end + 2;
        }
        out.push(argv);
    }
    Ok(out)
}

/// Parse `<tag><decimal>\r\n` at `*pos`.
fn read_prefixed(buf: &[u8], pos: &mut usize, tag: u8) -> Option<usize> {
    if buf.get(*pos) != Some(&tag) {
        return None;
    }
    let mut i = *pos + 1;
    let mut n: usize = 0;
    let digits_start = i;
    while i < buf.len() && buf[i].is_ascii_digit() {
        n = n.checked_mul(10)?.checked_add(usize::from(buf[i] - b'0'))?;
        i += 1;
    }
    if i == digits_start || buf.get(i..i + 2) != Some(b"\r\n") {
        return None;
    }
    *pos = i + 2;
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binary_arguments() {
        let mut buf = Vec::new();
        encode_command(&mut buf, &[&b"SET"[..], b"k\r\n\0", b""]);
        encode_command(&mut buf, &[b"DEL".as_slice(), b"x"]);
        assert!(buf.starts_with(b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\n\0\r\n$0\r\n\r\n"));
        let cmds = decode_commands(&buf).unwrap();
        assert_eq!(cmds, vec![vec![&b"SET"[..], b"k\r\n\0", b""], vec![&b"DEL"[..], b"x"]]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [&b"*"[..], b"*1\r\n", b"*1\r\n$5\r\nab\r\n", b"*0\r\n", b"*99999999999999999999999\r\n", b"x", b"*1\r\n$1\r\nab"] {
            assert!(decode_commands(bad).is_err(), "{bad:?}");
        }
    }
}
