//! The shared workload: 16-byte keys, 32-byte values, and shuffled access orders.
//!
//! Keys are `key:` + 12 decimal digits, exactly the keys `redis-benchmark -r 1000000` sends, so
//! every engine stores the same bytes. Access orders are materialised as contiguous arrays of keys
//! (not index permutations) so the harness itself does not add a random cache miss per operation.

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
}
