//! C library sorts whose order Redis replies expose: glibc's `qsort` (what redis-server calls
//! for a full sort) and Redis's own `pqsort` (a partial quicksort for a LIMIT or COUNT range).
//! Neither is Rust's sort: equal elements (ties under the comparison) come out in the order
//! these algorithms leave them, and replies must match redis-server's element for element.

/// glibc 2.36's `qsort`: a stable top-down merge sort (`msort_with_tmp`: halves sorted, then
/// merged taking from the left half on ties). `cmp` is C's three-way comparison. Sorted
/// through positions (as glibc sorts elements over 32 bytes, which changes nothing in the
/// order), then the elements are moved once.
pub(crate) fn glibc_qsort<T, F: Fn(&T, &T) -> i32>(v: &mut [T], cmp: &F) {
    if v.len() <= 1 {
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    glibc_qsort_copy(&mut order, &|a: &usize, b: &usize| cmp(&v[*a], &v[*b]));
    permute(v, order);
}

/// `glibc_qsort` of small copyable elements, sorted in place with one scratch buffer.
pub(crate) fn glibc_qsort_copy<T: Copy, F: Fn(&T, &T) -> i32>(v: &mut [T], cmp: &F) {
    if v.len() <= 1 {
        return;
    }
    let mut tmp = v.to_vec();
    msort(v, &mut tmp, cmp);
}

fn msort<T: Copy, F: Fn(&T, &T) -> i32>(b: &mut [T], tmp: &mut [T], cmp: &F) {
    let n = b.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    msort(&mut b[..n1], tmp, cmp);
    msort(&mut b[n1..], tmp, cmp);
    let (mut i, mut j, mut k) = (0, n1, 0);
    while i < n1 && j < n {
        if cmp(&b[i], &b[j]) <= 0 {
            tmp[k] = b[i];
            i += 1;
        } else {
            tmp[k] = b[j];
            j += 1;
        }
        k += 1;
    }
    // What is left of the right half is in place already.
    tmp[k..k + n1 - i].copy_from_slice(&b[i..n1]);
    k += n1 - i;
    b[..k].copy_from_slice(&tmp[..k]);
}

/// Rearrange `v` so that its element `k` is the one that was at `order[k]` (`order` is a
/// permutation), following each cycle with swaps.
fn permute<T>(v: &mut [T], mut order: Vec<usize>) {
    const DONE: usize = usize::MAX;
    for i in 0..v.len() {
        let mut j = i;
        while order[j] != DONE {
            let src = order[j];
            order[j] = DONE;
            if src == i {
                break;
            }
            v.swap(j, src);
            j = src;
        }
    }
}

/// Redis 7.0's `pqsort` (NetBSD's qsort without its switch to insertion sort after a
/// swap-free partition, recursing only into partitions that overlap the element range
/// `[lrange, rrange]`): that range ends up sorted, in exactly Redis's order.
pub(crate) fn pqsort<T, F: Fn(&T, &T) -> i32>(v: &mut [T], cmp: &F, lrange: usize, rrange: usize) {
    fn med3<T, F: Fn(&T, &T) -> i32>(v: &[T], cmp: &F, a: usize, b: usize, c: usize) -> usize {
        if cmp(&v[a], &v[b]) < 0 {
            if cmp(&v[b], &v[c]) < 0 {
                b
            } else if cmp(&v[a], &v[c]) < 0 {
                c
            } else {
                a
            }
        } else if cmp(&v[b], &v[c]) > 0 {
            b
        } else if cmp(&v[a], &v[c]) < 0 {
            a
        } else {
            c
        }
    }
    fn insertion<T, F: Fn(&T, &T) -> i32>(v: &mut [T], cmp: &F, a: usize, n: usize) {
        for pm in a + 1..a + n {
            let mut pl = pm;
            while pl > a && cmp(&v[pl - 1], &v[pl]) > 0 {
                v.swap(pl, pl - 1);
                pl -= 1;
            }
        }
    }
    fn vecswap<T>(v: &mut [T], a: usize, b: usize, n: usize) {
        for i in 0..n {
            v.swap(a + i, b + i);
        }
    }
    /// The partition `[a, a + n)` holds none of the wanted range.
    fn outside(a: usize, n: usize, l: usize, r: usize) -> bool {
        (l < a && r < a) || (l >= a + n && r >= a + n)
    }
    fn sort<T, F: Fn(&T, &T) -> i32>(v: &mut [T], cmp: &F, mut a: usize, mut n: usize, l: usize, r: usize) {
        loop {
            if n < 7 {
                insertion(v, cmp, a, n);
                return;
            }
            let mut pm = a + n / 2;
            if n > 7 {
                let mut pl = a;
                let mut pn = a + n - 1;
                if n > 40 {
                    let d = n / 8;
                    pl = med3(v, cmp, pl, pl + d, pl + 2 * d);
                    pm = med3(v, cmp, pm - d, pm, pm + d);
                    pn = med3(v, cmp, pn - 2 * d, pn - d, pn);
                }
                pm = med3(v, cmp, pl, pm, pn);
            }
            v.swap(a, pm);
            let (mut pa, mut pb) = (a + 1, a + 1);
            let (mut pc, mut pd) = (a + n - 1, a + n - 1);
            loop {
                while pb <= pc {
                    let c = cmp(&v[pb], &v[a]);
                    if c > 0 {
                        break;
                    }
                    if c == 0 {
                        v.swap(pa, pb);
                        pa += 1;
                    }
                    pb += 1;
                }
                while pb <= pc {
                    let c = cmp(&v[pc], &v[a]);
                    if c < 0 {
                        break;
                    }
                    if c == 0 {
                        v.swap(pc, pd);
                        pd -= 1;
                    }
                    pc -= 1;
                }
                if pb > pc {
                    break;
                }
                v.swap(pb, pc);
                pb += 1;
                pc -= 1;
            }
            let pn = a + n;
            let s = (pa - a).min(pb - pa);
            vecswap(v, a, pb - s, s);
            let s = (pd - pc).min(pn - pd - 1);
            vecswap(v, pb, pn - s, s);
            let s = pb - pa;
            if s > 1 && !outside(a, s, l, r) {
                sort(v, cmp, a, s, l, r);
            }
            let s = pd - pc;
            if s > 1 {
                a = pn - s;
                n = s;
                if !outside(a, n, l, r) {
                    continue;
                }
            }
            return;
        }
    }
    let n = v.len();
    sort(v, cmp, 0, n, lrange, rrange);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rust's stable sort on (key, position) is what a stable merge sort must give.
    #[test]
    fn glibc_qsort_is_a_stable_sort() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for n in [0usize, 1, 2, 3, 7, 64, 1000, 4099] {
            let v: Vec<(u64, usize)> = (0..n)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 17, i)
                })
                .collect();
            let mut ours = v.clone();
            glibc_qsort(&mut ours, &|a: &(u64, usize), b: &(u64, usize)| a.0.cmp(&b.0) as i32);
            let mut copied = v.clone();
            glibc_qsort_copy(&mut copied, &|a: &(u64, usize), b: &(u64, usize)| a.0.cmp(&b.0) as i32);
            assert_eq!(ours, copied);
            let mut want = v;
            want.sort_by_key(|e| e.0);
            assert_eq!(ours, want, "n = {n}");
        }
    }

    /// pqsort leaves the asked range sorted, every element on its side of it.
    #[test]
    fn pqsort_sorts_the_range() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for (n, l, r) in [(10usize, 0usize, 9usize), (100, 10, 20), (1000, 0, 0), (1000, 999, 999), (500, 250, 260)] {
            let v: Vec<u64> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state % 50
                })
                .collect();
            let mut ours = v.clone();
            pqsort(&mut ours, &|a: &u64, b: &u64| a.cmp(b) as i32, l, r);
            let mut want = v;
            want.sort();
            assert_eq!(ours[l..=r], want[l..=r], "n {n} range {l}..={r}");
            assert!(ours[..l].iter().all(|x| *x <= want[l]) && ours[r + 1..].iter().all(|x| *x >= want[r]));
        }
    }
}
