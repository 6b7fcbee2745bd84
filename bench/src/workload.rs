//! The shared workload: 16-byte keys, 32-byte values, and shuffled access orders; and the
//! durability workload's 100-byte values.
//!
//! Keys are `key:` + 12 decimal digits, exactly the keys `redis-benchmark -r 1000000` sends, so
//! every engine stores the same bytes. Access orders are materialised as contiguous arrays of keys
//! (not index permutations) so the harness itself does not add a random cache miss per operation.
//!
//! Durability values (`value100`) are `value:<n>:` followed by pseudo-random alphanumerics up to
//! 100 bytes: a function of (n, round) only, so nestdb and redis-server store identical bytes. 62
//! symbols carry ~5.95 bits per byte and repeat nowhere, so neither LZ4 (nestdb's snapshots) nor
//! LZF (redis's RDB) finds matches in the padding: file sizes are not flattered by the data.

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

pub type Key = [u8; 16];

/// The 32-byte value every SET writes (redis-benchmark also writes one fixed payload).
pub const VALUE: &[u8; 32] = b"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";

/// Key number `i` (`i` < 10^12).
pub fn key(i: usize) -> Key {
    let mut k = *b"key:000000000000";
    let mut n = i;
    for d in k[4..].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    k
}

/// Keys 0..n in insertion order.
pub fn keys(n: usize) -> Vec<Key> {
    (0..n).map(key).collect()
}

/// The same keys in a random order (seeded, so runs are comparable).
pub fn shuffled(keys: &[Key], seed: u64) -> Vec<Key> {
    let mut v = keys.to_vec();
    v.shuffle(&mut SmallRng::seed_from_u64(seed));
    v
}

/// Length of a durability value.
pub const VALUE100_LEN: usize = 100;

/// SplitMix64: a fast, well-mixed 64-bit step (seeds and padding of `value100`).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The durability workload's value for key number `n`, version `round` (a writer overwriting
/// keys uses another round): `value:<n>:` + alphanumeric padding, exactly 100 bytes.
pub fn value100(n: u64, round: u64) -> [u8; VALUE100_LEN] {
    const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut v = [0u8; VALUE100_LEN];
    let prefix = format!("value:{n}:");
    let p = prefix.len().min(VALUE100_LEN);
    v[..p].copy_from_slice(&prefix.as_bytes()[..p]);
    let mut state = n ^ round.rotate_left(40) ^ 0x005E_ED0F_DA7A;
    let mut bits = 0u64;
    let mut left = 0;
    for b in &mut v[p..] {
        if left == 0 {
            bits = splitmix(&mut state);
            left = 10; // 10 base-62 digits from 64 bits (62^10 < 2^60)
        }
        *b = ALNUM[(bits % 62) as usize];
        bits /= 62;
        left -= 1;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sixteen_bytes_like_redis_benchmark() {
        assert_eq!(&key(0), b"key:000000000000");
        assert_eq!(&key(999_999), b"key:000000999999");
        let ks = keys(1000);
        let mut s = shuffled(&ks, 7);
        assert_ne!(s, ks);
        s.sort();
        assert_eq!(s, ks);
    }

    #[test]
    fn value100_is_deterministic_alphanumeric_and_distinct() {
        let a = value100(42, 0);
        assert_eq!(a.len(), 100);
        assert!(a.starts_with(b"value:42:"));
        assert!(a[9..].iter().all(u8::is_ascii_alphanumeric));
        assert_eq!(a, value100(42, 0));
        assert_ne!(a, value100(42, 1));
        assert_ne!(a[9..], value100(43, 0)[9..]);
    }
}
