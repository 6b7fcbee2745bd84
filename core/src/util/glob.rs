//! Redis glob matching (`KEYS`, `SCAN MATCH`): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`.
//!
//! Same language as Redis's `stringmatchlen`, but iterative with a single backtrack point for
//! the last `*`, so matching is O(len(pattern) × len(string)) in the worst case instead of
//! exponential. Like Redis, an empty string matches only the empty pattern (callers treat a
//! lone `*` as "match everything" before calling).

/// One pattern element that matches exactly one byte.
fn class_match(pat: &[u8], mut p: usize, c: u8) -> (bool, usize) {
    // `p` points just after '['. Returns (matched, index just after the closing ']').
    let negate = p < pat.len() && pat[p] == b'^';
    if negate {
        p += 1;
    }
    let mut matched = false;
    loop {
        if p >= pat.len() {
            break;
        }
        if pat[p] == b'\\' && p + 1 < pat.len() {
            p += 1;
            if pat[p] == c {
                matched = true;
            }
        } else if pat[p] == b']' {
            p += 1;
            break;
        } else if p + 2 < pat.len() && pat[p + 1] == b'-' {
            let (mut lo, mut hi) = (pat[p], pat[p + 2]);
            if lo > hi {
                std::mem::swap(&mut lo, &mut hi);
            }
            if c >= lo && c <= hi {
                matched = true;
            }
            p += 2;
        } else if pat[p] == c {
            matched = true;
        }
        p += 1;
    }
    (matched != negate, p)
}

/// True when `s` matches the Redis glob `pat`.
pub(crate) fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    if s.is_empty() {
        return pat.is_empty();
    }
    let (mut p, mut i) = (0usize, 0usize);
    // Backtrack point: pattern index after the last '*', and string index it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    while p < pat.len() && pat[p] == b'*' {
                        p += 1;
                    }
                    if p == pat.len() {
                        return true;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    let (ok, next) = class_match(pat, p + 1, s[i]);
                    if ok {
                        p = next;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pat.len() => {
                    if pat[p + 1] == s[i] {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c => {
                    if c == s[i] {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
            }
        }
        // Mismatch: let the last star swallow one more byte, or fail.
        match star {
            Some((sp, si)) => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            None => return false,
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn redis_glob_examples() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes());
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hello"));
        assert!(m("*", "anything"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("user:*:name", "user:42:name"));
        assert!(!m("abc", "abcd"));
        assert!(m("abc*", "abc"));
        assert!(!m("*", ""));
        assert!(m("[\\]]", "]"));
        assert!(m("*a*a*a*a*a*a*a*a*b", &("a".repeat(60) + "b")));
        assert!(!m("*a*a*a*a*a*a*a*a*b", &"a".repeat(60)));
    }
}
