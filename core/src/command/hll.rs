//! HyperLogLog (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE.
//!
//! A HyperLogLog is a string in Redis's own layout, so its bytes mean the same to nestdb and to
//! redis-server (a value copied between them with GET/SET keeps working):
//! ```text
//! "HYLL" | encoding u8 (0 dense, 1 sparse) | 3 unused | cached cardinality u64 LE (bit 63 of
//! the last byte set: stale) | registers
//! ```
//! Dense registers: 16384 of 6 bits, little-endian bit order (Redis's `HLL_DENSE_GET_REGISTER`).
//! Sparse: runs of ZERO (`00xxxxxx`), XZERO (`01xxxxxx yyyyyyyy`) and VAL (`1vvvvvxx`) opcodes.
//!
//! Invariants and choices:
//! - The element hash, the register index and run length and the cardinality estimator (Otmar
//!   Ertl's, which Redis uses since 5.0) are Redis's, bit for bit, so PFCOUNT answers exactly
//!   what redis-server answers for the same elements (a differential test checks it).
//! - nestdb reads both encodings and writes the dense one (12304 bytes per key; Redis starts
//!   sparse and converts at 3000 bytes). Counts do not depend on the encoding; only STRLEN and
//!   GET of the key show the difference.
//! - PFCOUNT never writes: it does not refresh the cached cardinality as Redis does, so reads
//!   stay reads (no log record, no shared-lock upgrade). PFADD and PFMERGE mark the cache stale
//!   whenever they change a register, so a cache read from a Redis-written value is trusted
//!   only while it is valid.
//! - A string that is not a valid HyperLogLog answers Redis's error and is left unchanged.

use super::string::store_value_keep_ttl;
use super::{CmdResult, CommandSpec, DENYOOM, WRITE};
use crate::keyspace::{Ctx, WRONGTYPE};
use crate::reply::Reply;
use crate::types::{Value, ValueBytes};

const W: u32 = WRITE | DENYOOM;

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pfadd", -2, W, (1, 1, 1), pfadd),
    CommandSpec::new("pfcount", -2, 0, (1, -1, 1), pfcount),
    CommandSpec::new("pfmerge", -2, W, (1, -1, 1), pfmerge),
];

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Registers: 2^P, each of BITS bits.
const P: u32 = 14;
const REGISTERS: usize = 1 << P;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Bits of the hash that count the run of zeros (64 - P).
const Q: u32 = 64 - P;
const HEADER: usize = 16;
const DENSE_BYTES: usize = (REGISTERS * BITS).div_ceil(8);
const DENSE_SIZE: usize = HEADER + DENSE_BYTES;
/// Redis's default `hll-sparse-max-bytes`: a longer sparse body is stored dense.
const SPARSE_MAX: usize = 3000;
const ENC_DENSE: u8 = 0;
const ENC_SPARSE: u8 = 1;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// A stored HyperLogLog, decoded.
struct Decoded {
    regs: Registers,
    /// The cached cardinality, when the header's cache is valid.
    cached: Option<u64>,
    /// It was stored dense (it stays dense: Redis never converts back).
    dense: bool,
}

/// The registers of one HyperLogLog, one byte each (decoded from either encoding).
struct Registers(Box<[u8; REGISTERS]>);

impl Registers {
    fn empty() -> Registers {
        Registers(Box::new([0; REGISTERS]))
    }

    /// Decode a stored value; Err if it is not a valid HyperLogLog (Redis's `isHLLObjectOrReply`
    /// for the header, `hllSparseToDense` for a sparse body).
    fn decode(bytes: &[u8]) -> Result<Decoded, Reply> {
        if bytes.len() < HEADER || &bytes[..4] != b"HYLL" || bytes[4] > ENC_SPARSE {
            return Err(Reply::err(NOT_HLL));
        }
        if bytes[4] == ENC_DENSE && bytes.len() != DENSE_SIZE {
            return Err(Reply::err(NOT_HLL));
        }
        let card = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let cached = (bytes[15] & 0x80 == 0).then_some(card);
        let mut regs = Registers::empty();
        let body = &bytes[HEADER..];
        if bytes[4] == ENC_DENSE {
            for (i, r) in regs.0.iter_mut().enumerate() {
                *r = dense_get(body, i);
            }
            return Ok(Decoded { regs, cached, dense: true });
        }
        let mut idx = 0usize;
        let mut pos = 0usize;
        while pos < body.len() {
            let op = body[pos];
            let (run, value, width) = if op & 0xc0 == 0 {
                (usize::from(op & 0x3f) + 1, 0, 1)
            } else if op & 0xc0 == 0x40 {
                let Some(&next) = body.get(pos + 1) else { return Err(Reply::err(CORRUPT)) };
                ((usize::from(op & 0x3f) << 8 | usize::from(next)) + 1, 0, 2)
            } else {
                (usize::from(op & 0x3) + 1, ((op >> 2) & 0x1f) + 1, 1)
            };
            if idx + run > REGISTERS {
                return Err(Reply::err(CORRUPT));
            }
            regs.0[idx..idx + run].fill(value);
            idx += run;
            pos += width;
        }
        if idx != REGISTERS {
            return Err(Reply::err(CORRUPT));
        }
        Ok(Decoded { regs, cached, dense: false })
    }

    /// The sparse encoding with a stale cache, or None when it cannot hold these registers (a
    /// value above 32) or would pass `SPARSE_MAX` bytes (Redis's `hll-sparse-max-bytes`).
    fn encode_sparse(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(b"HYLL");
        out.extend_from_slice(&[ENC_SPARSE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
        let regs = &self.0[..];
        let mut i = 0;
        while i < REGISTERS {
            let v = regs[i];
            let run = regs[i..].iter().take_while(|&&r| r == v).count();
            if v == 0 {
                let mut left = run;
                while left > 0 {
                    let n = left.min(1 << 14);
                    if n <= 64 {
                        out.push((n - 1) as u8);
                    } else {
                        out.push(0x40 | ((n - 1) >> 8) as u8);
                        out.push((n - 1) as u8);
                    }
                    left -= n;
                }
            } else {
                if v > 32 {
                    return None;
                }
                let mut left = run;
                while left > 0 {
                    let n = left.min(4);
                    out.push(0x80 | ((v - 1) << 2) | (n - 1) as u8);
                    left -= n;
                }
            }
            if out.len() > SPARSE_MAX {
                return None;
            }
            i += run;
        }
        Some(out)
    }

    /// The dense encoding with a stale cache.
    fn encode_dense(&self) -> Vec<u8> {
        let mut out = vec![0u8; DENSE_SIZE];
        out[..4].copy_from_slice(b"HYLL");
        out[4] = ENC_DENSE;
        out[15] = 0x80;
        let body = &mut out[HEADER..];
        for (i, &r) in self.0.iter().enumerate() {
            dense_set(body, i, r);
        }
        out
    }

    /// Add an element; true if a register grew.
    fn add(&mut self, element: &[u8]) -> bool {
        let (index, count) = pattern(element);
        if self.0[index] < count {
            self.0[index] = count;
            true
        } else {
            false
        }
    }

    fn merge(&mut self, other: &Registers) {
        for (a, &b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = (*a).max(b);
        }
    }

    /// Redis's `hllCount`: Ertl's improved estimator from the register histogram.
    fn count(&self) -> u64 {
        let m = REGISTERS as f64;
        let mut histo = [0u32; 64];
        for &r in self.0.iter() {
            histo[usize::from(r)] += 1;
        }
        let q = Q as usize;
        let mut z = m * tau((m - f64::from(histo[q + 1])) / m);
        for j in (1..=q).rev() {
            z += f64::from(histo[j]);
            z *= 0.5;
        }
        z += m * sigma(f64::from(histo[0]) / m);
        (ALPHA_INF * m * m / z).round() as u64
    }
}

/// Register `i` of a dense body (bytes past its end read as zero, as Redis's trailing NUL).
fn dense_get(body: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u16::from(body[byte]);
    let b1 = u16::from(body.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_set(body: &mut [u8], i: usize, v: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = u16::from(v);
    let max = u16::from(REGISTER_MAX);
    body[byte] = ((u16::from(body[byte]) & !(max << fb)) | (v << fb)) as u8;
    if let Some(next) = body.get_mut(byte + 1) {
        *next = ((u16::from(*next) & !(max >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// Redis's `hllPatLen`: the register an element goes to and the length of the run of zeros
/// (plus one) in the rest of its hash.
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// MurmurHash64A (Austin Appleby), as Redis's hyperloglog.c computes it (little-endian reads).
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// `hllSigma`.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

/// `hllTau`.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The HyperLogLog at `key`: None if the key is absent, the error reply for another type or
/// an invalid string. `read`: a read lookup, counted as a keyspace hit or miss (Redis's
/// `lookupKeyRead`, which PFCOUNT and PFMERGE use; PFADD's lookup is a write's).
fn load(ctx: &mut Ctx<'_>, key: &[u8], read: bool) -> Result<Option<Decoded>, Reply> {
    let found = if read { ctx.lookup_counted(key) } else { ctx.lookup(key) };
    let Some(e) = found else { return Ok(None) };
    match &e.value {
        Value::Str(s) => s.with_bytes(Registers::decode).map(Some),
        _ => Err(Reply::err(WRONGTYPE)),
    }
}

/// Store `regs` at `key` (keeping its TTL), sparse while Redis would keep it sparse.
fn store(ctx: &mut Ctx<'_>, key: &[u8], regs: &Registers, dense: bool) {
    let bytes = if dense { regs.encode_dense() } else { regs.encode_sparse().unwrap_or_else(|| regs.encode_dense()) };
    // Stored as Redis leaves a HyperLogLog: a raw string.
    store_value_keep_ttl(ctx, key, ValueBytes::store_raw(bytes, ctx.compression()));
}

fn pfadd(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let (mut regs, dense, created) = match load(ctx, a[1], false)? {
        Some(d) => (d.regs, d.dense, false),
        None => (Registers::empty(), false, true),
    };
    let mut changed = false;
    for element in &a[2..] {
        changed |= regs.add(element);
    }
    if changed || created {
        store(ctx, a[1], &regs, dense);
    }
    Ok(Reply::Int(i64::from(changed || created)))
}

fn pfcount(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    if a.len() == 2 {
        return Ok(Reply::Int(match load(ctx, a[1], true)? {
            None => 0,
            Some(Decoded { cached: Some(cached), .. }) => cached as i64,
            Some(d) => d.regs.count() as i64,
        }));
    }
    let mut all = Registers::empty();
    for key in &a[1..] {
        if let Some(d) = load(ctx, key, true)? {
            all.merge(&d.regs);
        }
    }
    Ok(Reply::Int(all.count() as i64))
}

fn pfmerge(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    // Every input (the destination is one) is read and checked before anything is written;
    // the result is dense if any input was, and the destination is rewritten (created when
    // absent) even when nothing changed, as Redis does.
    let mut all = Registers::empty();
    let mut dense = false;
    for key in &a[1..] {
        if let Some(d) = load(ctx, key, true)? {
            all.merge(&d.regs);
            dense |= d.dense;
        }
    }
    store(ctx, a[1], &all, dense);
    Ok(Reply::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_registers_round_trip_at_every_bit_offset() {
        let mut regs = Registers::empty();
        for (i, r) in regs.0.iter_mut().enumerate() {
            *r = (i * 7 % 64) as u8;
        }
        let bytes = regs.encode_dense();
        assert_eq!(bytes.len(), DENSE_SIZE);
        let back = Registers::decode(&bytes).unwrap();
        assert_eq!((back.cached, back.dense), (None, true));
        assert!(back.regs.0.iter().eq(regs.0.iter()));
    }

    #[test]
    fn sparse_bodies_decode_and_bad_ones_are_refused() {
        // XZERO covering all 16384 registers: 0x7f 0xff.
        let mut v = b"HYLL\x01\0\0\0".to_vec();
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&[0x7f, 0xff]);
        let d = Registers::decode(&v).unwrap();
        assert_eq!((d.cached, d.dense), (Some(0), false));
        assert!(d.regs.0.iter().all(|&r| r == 0));
        assert_eq!(d.regs.count(), 0);
        // VAL 3 x2 then XZERO for the rest.
        let mut w = v[..HEADER].to_vec();
        w.push(0x80 | (2 << 2) | 1);
        let rest = REGISTERS - 2 - 1;
        w.extend_from_slice(&[0x40 | (rest >> 8) as u8, rest as u8]);
        assert_eq!(&Registers::decode(&w).unwrap().regs.0[..3], &[3, 3, 0]);
        // Too few registers, too many, a cut XZERO, a bad magic, a bad dense length.
        assert!(Registers::decode(&v[..HEADER + 1]).is_err());
        let mut over = v.clone();
        over.push(0x00);
        assert!(Registers::decode(&over).is_err());
        assert!(Registers::decode(&v[..v.len() - 1]).is_err());
        assert!(Registers::decode(b"HYLX\x00\0\0\0\0\0\0\0\0\0\0\0").is_err());
        assert!(Registers::decode(b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0").is_err());
    }

    #[test]
    fn sparse_encoding_round_trips_until_it_must_be_dense() {
        let mut regs = Registers::empty();
        let mut i = 0u32;
        loop {
            regs.add(format!("e{i}").as_bytes());
            i += 1;
            match regs.encode_sparse() {
                Some(bytes) => {
                    assert!(bytes.len() <= SPARSE_MAX);
                    let d = Registers::decode(&bytes).unwrap();
                    assert!(!d.dense && d.regs.0.iter().eq(regs.0.iter()), "after {i} elements");
                }
                None => break,
            }
        }
        // Sparse holds a few hundred distinct elements before passing 3000 bytes.
        assert!(i > 500, "went dense after {i} elements");
        let mut big = Registers::empty();
        big.0[5] = 33;
        assert!(big.encode_sparse().is_none());
    }

    #[test]
    fn estimates_stay_within_a_few_percent() {
        let mut regs = Registers::empty();
        for (n, i) in (0..100_000u32).enumerate() {
            regs.add(format!("element:{i}").as_bytes());
            let n = n as f64 + 1.0;
            if [1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0].contains(&n) {
                let est = regs.count() as f64;
                assert!((est - n).abs() / n < 0.03, "{n} elements estimated as {est}");
            }
        }
    }
}
