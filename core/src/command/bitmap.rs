//! Bit operations on string values (Redis's bitops.c): SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD and BITFIELD_RO.
//!
//! A bitmap is a string: bit `n` is bit `7 - n % 8` of byte `n / 8` (the most significant bit
//! of the first byte is bit 0), and bytes past the end read as zero. Semantics follow Redis
//! 7.0, including its argument order quirks: BITCOUNT looks the key up before it parses its
//! range (a missing key answers 0 whatever the range), BITPOS parses its bit first.
//!
//! SETBIT rewrites the whole value (read, change one byte, store), as SETRANGE does: values are
//! exact-size, possibly compressed blocks (`types/bytes.rs`), so a change in place is not
//! available. That makes SETBIT O(length of the value), where Redis is O(1): fine for the
//! bitmaps of a few KiB that flags and small id ranges use, slow for multi-MiB ones. Its result
//! is stored as Redis would leave it (OBJECT ENCODING `raw`), compressed by the live setting
//! like any other value. Every command here is deterministic and logged verbatim.
//!
//! BITFIELD's overflow checks are Redis's `check{Signed,Unsigned}BitfieldOverflow` step for
//! step, in the same wrapping two's-complement arithmetic, so even its corner cases (a SET of a
//! value near `i64::MIN` into a narrow signed field under SAT) answer as Redis's do.

use super::args::{is, syntax};
use super::string::{store_value_keep_ttl, MAX_STRING};
use super::{CmdResult, CommandSpec, DENYOOM, WRITE};
use crate::keyspace::{Ctx, Entry, WRONGTYPE};
use crate::reply::Reply;
use crate::types::{Value, ValueBytes};
use crate::util::num;

const W: u32 = WRITE | DENYOOM;
const K1: (i32, i32, i32) = (1, 1, 1);

pub(crate) const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, W, K1, setbit),
    CommandSpec::new("getbit", 3, 0, K1, getbit),
    CommandSpec::new("bitcount", -2, 0, K1, bitcount),
    CommandSpec::new("bitpos", -3, 0, K1, bitpos),
    CommandSpec::new("bitop", -4, W, (2, -1, 1), bitop),
    CommandSpec::new("bitfield", -2, W, K1, bitfield),
    CommandSpec::new("bitfield_ro", -2, 0, K1, bitfield_ro),
];

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";

/// A bit offset argument: an integer in `0..2^32` (Redis: its byte must be inside
/// proto-max-bulk-len, 512 MiB).
fn bit_offset(arg: &[u8]) -> Result<u64, Reply> {
    match num::parse_i64_strict(arg) {
        Some(n) if n >= 0 && (n as u64 >> 3) < MAX_STRING as u64 => Ok(n as u64),
        _ => Err(Reply::err(BAD_OFFSET)),
    }
}

/// The bit at `offset` of `bytes` (0 past the end).
fn bit_at(bytes: &[u8], offset: u64) -> u8 {
    bytes.get((offset >> 3) as usize).map_or(0, |b| (b >> (7 - (offset & 7))) & 1)
}

fn setbit(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(a[2])?;
    let on = match num::parse_i64_strict(a[3]) {
        Some(b @ (0 | 1)) => b as u8,
        _ => return Err(Reply::err(BAD_BIT)),
    };
    // A write's lookup: no hit or miss counted (Redis's lookupKeyWrite).
    let (mut bytes, existed) = match ctx.lookup(a[1]).as_deref() {
        None => (Vec::new(), false),
        Some(Entry { value: Value::Str(s), .. }) => (s.to_vec(), true),
        Some(_) => return Err(Reply::err(WRONGTYPE)),
    };
    let byte = (offset >> 3) as usize;
    let grew = bytes.len() <= byte;
    if grew {
        bytes.resize(byte + 1, 0);
    }
    let shift = 7 - (offset & 7) as u32;
    let old = (bytes[byte] >> shift) & 1;
    // Redis 7.0 changes (and signals: WATCH, the log) only a new key, a longer string or a
    // flipped bit.
    if existed && !grew && old == on {
        return Ok(Reply::Int(i64::from(old)));
    }
    bytes[byte] = bytes[byte] & !(1 << shift) | on << shift;
    store_value_keep_ttl(ctx, a[1], ValueBytes::store_raw(bytes, ctx.compression()));
    Ok(Reply::Int(i64::from(old)))
}

fn getbit(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let offset = bit_offset(a[2])?;
    let bit = ctx.get_str(a[1])?.map_or(0, |s| s.with_bytes(|b| bit_at(b, offset)));
    Ok(Reply::Int(i64::from(bit)))
}

/// A `start end [BYTE|BIT]` range over a string of `len` bytes, resolved as Redis does (negative
/// indexes from the end, clamped): the inclusive bit range it covers, None when empty.
/// `end` None: BITPOS without an end (to the last byte).
fn bit_range(len: usize, start: i64, end: Option<i64>, unit_bits: bool) -> Option<(u64, u64)> {
    let total = if unit_bits { len as i64 * 8 } else { len as i64 };
    let mut end = end.unwrap_or(total - 1);
    let mut start = start;
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    if start > end {
        return None;
    }
    Some(if unit_bits { (start as u64, end as u64) } else { (start as u64 * 8, end as u64 * 8 + 7) })
}

/// Parse a trailing `BYTE` / `BIT` unit word: true for BIT.
fn unit(arg: &[u8]) -> Result<bool, Reply> {
    if is(arg, "BIT") {
        Ok(true)
    } else if is(arg, "BYTE") {
        Ok(false)
    } else {
        Err(syntax())
    }
}

/// Set bits of `bytes` in the inclusive bit range `lo..=hi` (inside the string).
fn count_bits(bytes: &[u8], lo: u64, hi: u64) -> u64 {
    let (first, last) = ((lo >> 3) as usize, (hi >> 3) as usize);
    let mut n: u64 = bytes[first..=last].iter().map(|b| u64::from(b.count_ones())).sum();
    // Take away the bits of the edge bytes outside the range.
    let before_lo = !(0xFFu8 >> (lo & 7));
    let after_hi = 0xFFu8.checked_shr((hi & 7) as u32 + 1).unwrap_or(0);
    n -= u64::from((bytes[first] & before_lo).count_ones());
    n -= u64::from((bytes[last] & after_hi).count_ones());
    n
}

fn bitcount(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    // Redis 7.0 looks the key up first: a missing key is 0 whatever follows.
    let Some(s) = ctx.get_str(a[1])? else { return Ok(Reply::Int(0)) };
    let bytes = s.bytes();
    let range = match a.len() {
        2 => bit_range(bytes.len(), 0, None, false),
        4 | 5 => {
            let start = super::args::int(a[2])?;
            let end = super::args::int(a[3])?;
            // Before the unit word is looked at (Redis 7.0's order).
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let bits = if a.len() == 5 { unit(a[4])? } else { false };
            bit_range(bytes.len(), start, Some(end), bits)
        }
        _ => return Err(syntax()),
    };
    Ok(Reply::Int(range.map_or(0, |(lo, hi)| count_bits(&bytes, lo, hi)) as i64))
}

fn bitpos(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let bit = match num::parse_i64_strict(a[2]) {
        Some(b @ (0 | 1)) => b as u8,
        Some(_) => return Err(Reply::err("ERR The bit argument must be 1 or 0.")),
        None => return Err(Reply::err(super::args::NOT_INTEGER)),
    };
    // A missing key is an endless run of zeros.
    let Some(s) = ctx.get_str(a[1])? else { return Ok(Reply::Int(if bit == 1 { -1 } else { 0 })) };
    let bytes = s.bytes();
    let (range, end_given) = match a.len() {
        3 => (bit_range(bytes.len(), 0, None, false), false),
        4..=6 => {
            let start = super::args::int(a[3])?;
            let bits = if a.len() == 6 { unit(a[5])? } else { false };
            let end = if a.len() >= 5 { Some(super::args::int(a[4])?) } else { None };
            (bit_range(bytes.len(), start, end, bits), end.is_some())
        }
        _ => return Err(syntax()),
    };
    // An empty range holds neither a 0 nor a 1.
    let Some((lo, hi)) = range else { return Ok(Reply::Int(-1)) };
    let found = first_bit(&bytes, lo, hi, bit);
    Ok(Reply::Int(match found {
        Some(pos) => pos as i64,
        // Looking for a 0 with no end given: the string is padded with zeros on the right.
        None if bit == 0 && !end_given => hi as i64 + 1,
        None => -1,
    }))
}

/// The first bit equal to `bit` in the inclusive bit range `lo..=hi` of `bytes`.
fn first_bit(bytes: &[u8], lo: u64, hi: u64, bit: u8) -> Option<u64> {
    let skip = if bit == 1 { 0x00 } else { 0xFF };
    let mut pos = lo;
    while pos <= hi {
        let byte = bytes[(pos >> 3) as usize];
        if pos & 7 == 0 && pos + 7 <= hi && byte == skip {
            pos += 8;
            continue;
        }
        if (byte >> (7 - (pos & 7))) & 1 == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

#[derive(Clone, Copy)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    let op = [("AND", BitOp::And), ("OR", BitOp::Or), ("XOR", BitOp::Xor), ("NOT", BitOp::Not)]
        .into_iter()
        .find(|(name, _)| is(a[1], name))
        .map(|(_, op)| op)
        .ok_or_else(syntax)?;
    if matches!(op, BitOp::Not) && a.len() != 4 {
        return Err(Reply::err("ERR BITOP NOT must be called with a single source key."));
    }
    // Missing sources are empty strings; every source must be a string.
    let mut sources = Vec::with_capacity(a.len() - 3);
    for key in &a[3..] {
        sources.push(ctx.get_str(key)?.map(|s| s.to_vec()).unwrap_or_default());
    }
    let max = sources.iter().map(Vec::len).max().unwrap_or(0);
    let dest = a[2];
    if max == 0 {
        // An empty result deletes the destination (logged verbatim when it did).
        ctx.remove(dest);
        return Ok(Reply::Int(0));
    }
    let byte = |s: &Vec<u8>, j: usize| s.get(j).copied().unwrap_or(0);
    let result: Vec<u8> = (0..max)
        .map(|j| {
            let first = byte(&sources[0], j);
            match op {
                BitOp::Not => !first,
                BitOp::And => sources[1..].iter().fold(first, |acc, s| acc & byte(s, j)),
                BitOp::Or => sources[1..].iter().fold(first, |acc, s| acc | byte(s, j)),
                BitOp::Xor => sources[1..].iter().fold(first, |acc, s| acc ^ byte(s, j)),
            }
        })
        .collect();
    // Stored as a new raw string without a TTL (Redis's setKey).
    ctx.insert(dest, Value::Str(ValueBytes::store_raw(result, ctx.compression())), 0);
    Ok(Reply::Int(max as i64))
}

// --- BITFIELD -------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum FieldOp {
    Get,
    Set,
    IncrBy,
}

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One parsed BITFIELD operation.
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    /// SET's value or INCRBY's increment.
    value: i64,
    overflow: Overflow,
}

const BAD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// `i<bits>` (1..=64) or `u<bits>` (1..=63): (signed, bits).
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(Reply::err(BAD_TYPE)),
    };
    match num::parse_i64_strict(&arg[1..]) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Ok((signed, b as u32)),
        _ => Err(Reply::err(BAD_TYPE)),
    }
}

/// A bit offset, or `#n` for the n-th field of `bits` bits (`n * bits`, multiplied in wrapping
/// 64-bit arithmetic as Redis's C does).
fn field_offset(arg: &[u8], bits: u32) -> Result<u64, Reply> {
    let (hash, digits) = match arg.split_first() {
        Some((b'#', rest)) => (true, rest),
        _ => (false, arg),
    };
    let mut n = num::parse_i64_strict(digits).ok_or_else(|| Reply::err(BAD_OFFSET))?;
    if hash {
        n = n.wrapping_mul(i64::from(bits));
    }
    if n < 0 || (n as u64 >> 3) >= MAX_STRING as u64 {
        return Err(Reply::err(BAD_OFFSET));
    }
    Ok(n as u64)
}

/// The `bits`-bit unsigned integer at bit `offset` of `bytes` (most significant bit first;
/// bytes past the end read as zero).
fn get_field(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |v, j| v << 1 | u64::from(bit_at(bytes, offset + j)))
}

/// Write the low `bits` bits of `value` at bit `offset` (inside `bytes`).
fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let bit = (value >> (u64::from(bits) - 1 - j)) & 1;
        let pos = offset + j;
        let (byte, shift) = ((pos >> 3) as usize, 7 - (pos & 7));
        bytes[byte] = bytes[byte] & !(1 << shift) | (bit as u8) << shift;
    }
}

/// The field's value as a signed integer (its top bit extended).
fn signed_of(raw: u64, bits: u32) -> i64 {
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | u64::MAX << bits) as i64
    } else {
        raw as i64
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: None when `value + incr` stays in `0..2^bits`;
/// on overflow, the value WRAP or SAT stores instead (`Some(None)` under FAIL: nothing).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<u64>> {
    let max = (1u64 << bits) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let sat = if value > max || (incr > 0 && incr > maxincr) {
        max
    } else if incr < 0 && incr < minincr {
        0
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & !(u64::MAX << bits)),
        Overflow::Sat => Some(sat),
        Overflow::Fail => None,
    })
}

/// Redis's `checkSignedBitfieldOverflow` (same arithmetic, wrapping where C wraps), answering
/// as `unsigned_overflow` does.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<Option<i64>> {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        let c = if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c | mask
            } else {
                c & !mask
            }
        } else {
            c
        };
        c as i64
    };
    let sat = if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        max
    } else if value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr) {
        min
    } else {
        return None;
    };
    Some(match ow {
        Overflow::Wrap => Some(wrap()),
        Overflow::Sat => Some(sat),
        Overflow::Fail => None,
    })
}

fn bitfield(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, a, false)
}

fn bitfield_ro(ctx: &mut Ctx<'_>, a: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, a, true)
}

fn bitfield_generic(ctx: &mut Ctx<'_>, a: &[&[u8]], read_only: bool) -> CmdResult {
    let mut fields = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write: Option<u64> = None;
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let op = if is(a[j], "GET") && left >= 2 {
            FieldOp::Get
        } else if is(a[j], "SET") && left >= 3 {
            FieldOp::Set
        } else if is(a[j], "INCRBY") && left >= 3 {
            FieldOp::IncrBy
        } else if is(a[j], "OVERFLOW") && left >= 1 {
            overflow = [("WRAP", Overflow::Wrap), ("SAT", Overflow::Sat), ("FAIL", Overflow::Fail)]
                .into_iter()
                .find(|(name, _)| is(a[j + 1], name))
                .map(|(_, o)| o)
                .ok_or_else(|| Reply::err("ERR Invalid OVERFLOW type specified"))?;
            j += 2;
            continue;
        } else {
            return Err(syntax());
        };
        let (signed, bits) = field_type(a[j + 1])?;
        let offset = field_offset(a[j + 2], bits)?;
        let mut value = 0;
        if op != FieldOp::Get {
            let last = offset + u64::from(bits) - 1;
            highest_write = Some(highest_write.map_or(last, |h| h.max(last)));
            value = super::args::int(a[j + 3])?;
        }
        fields.push(Field { op, signed, bits, offset, value, overflow });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    let Some(highest) = highest_write else {
        // Only GETs: a read (a missing key reads as zeros).
        let bytes = match ctx.get_str(a[1])? {
            Some(s) => s.bytes().into_owned(),
            None => Vec::new(),
        };
        let replies = fields.iter().map(|f| read_field(&bytes, f)).collect();
        return Ok(Reply::Array(replies));
    };
    if read_only {
        return Err(Reply::err("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    // The string, created or grown to hold the farthest bit written (even if every write then
    // fails its overflow check, as in Redis).
    let mut bytes = match ctx.lookup(a[1]).as_deref() {
        None => Vec::new(),
        Some(Entry { value: Value::Str(s), .. }) => s.to_vec(),
        Some(_) => return Err(Reply::err(WRONGTYPE)),
    };
    let need = (highest >> 3) as usize + 1;
    let mut changed = bytes.len() < need;
    if changed {
        bytes.resize(need, 0);
    }
    let mut replies = Vec::with_capacity(fields.len());
    for f in &fields {
        if f.op == FieldOp::Get {
            replies.push(read_field(&bytes, f));
            continue;
        }
        let old_raw = get_field(&bytes, f.offset, f.bits);
        let (reply, new_raw) = if f.signed {
            let old = signed_of(old_raw, f.bits);
            let (value, incr) = if f.op == FieldOp::IncrBy { (old, f.value) } else { (f.value, 0) };
            let new = match signed_overflow(value, incr, f.bits, f.overflow) {
                None => Some(value.wrapping_add(incr)),
                Some(limit) => limit,
            };
            match new {
                None => (Reply::Nil, None),
                Some(new) => (Reply::Int(if f.op == FieldOp::IncrBy { new } else { old }), Some(new as u64)),
            }
        } else {
            let (value, incr) = if f.op == FieldOp::IncrBy { (old_raw, f.value) } else { (f.value as u64, 0) };
            let new = match unsigned_overflow(value, incr, f.bits, f.overflow) {
                None => Some(value.wrapping_add(incr as u64)),
                Some(limit) => limit,
            };
            match new {
                None => (Reply::Nil, None),
                Some(new) => (Reply::Int(if f.op == FieldOp::IncrBy { new } else { old_raw } as i64), Some(new)),
            }
        };
        if let Some(new_raw) = new_raw {
            set_field(&mut bytes, f.offset, f.bits, new_raw);
            changed |= get_field(&bytes, f.offset, f.bits) != old_raw;
        }
        replies.push(reply);
    }
    if changed {
        store_value_keep_ttl(ctx, a[1], ValueBytes::store_raw(bytes, ctx.compression()));
    }
    Ok(Reply::Array(replies))
}

/// A GET's reply: the field read from `bytes` (zero-padded).
fn read_field(bytes: &[u8], f: &Field) -> Reply {
    let raw = get_field(bytes, f.offset, f.bits);
    Reply::Int(if f.signed { signed_of(raw, f.bits) } else { raw as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SETBIT changes (and signals WATCH) a new key, a longer string or a flipped bit only, as
    /// redis-server 7.0 does (a random differential run found the difference).
    #[test]
    fn setbit_signals_only_real_changes() {
        let db = crate::Db::open_in_memory();
        db.execute(&[b"SET", b"k", b"abc"]);
        let exec_survives = |change: &[&[u8]]| {
            let mut s = db.session();
            s.execute(&[b"WATCH", b"k", b"n"]);
            assert!(matches!(db.execute(change), Reply::Int(_)));
            s.execute(&[b"MULTI"]);
            s.execute(&[b"PING"]);
            s.execute(&[b"EXEC"]) != Reply::Nil
        };
        assert!(exec_survives(&[b"SETBIT", b"k", b"21", b"0"]));
        assert!(exec_survives(&[b"SETBIT", b"k", b"1", b"1"]));
        assert!(!exec_survives(&[b"SETBIT", b"k", b"21", b"1"]));
        assert!(!exec_survives(&[b"SETBIT", b"k", b"100", b"0"]));
        assert!(!exec_survives(&[b"SETBIT", b"n", b"3", b"0"]));
        assert_eq!(db.execute(&[b"GET", b"k"]), Reply::Bulk(b"abg\0\0\0\0\0\0\0\0\0\0".to_vec()));
    }

    /// Bit `i` of `bytes`, one bit at a time: the model the range functions are checked against.
    fn model_bits(bytes: &[u8]) -> Vec<u8> {
        (0..bytes.len() as u64 * 8).map(|i| bit_at(bytes, i)).collect()
    }

    #[test]
    fn ranges_count_and_search_like_a_bit_by_bit_model() {
        let samples: [&[u8]; 5] = [b"\xff\xf0\x00", b"foobar", b"\x00\x00\x01", b"\x80", b"\xff\xff\xff\x7f"];
        for bytes in samples {
            let bits = model_bits(bytes);
            let n = bits.len() as u64;
            for lo in 0..n {
                for hi in lo..n {
                    let slice = &bits[lo as usize..=hi as usize];
                    let ones = slice.iter().filter(|&&b| b == 1).count() as u64;
                    assert_eq!(count_bits(bytes, lo, hi), ones, "{bytes:?} {lo}..={hi}");
                    for bit in [0, 1] {
                        let want = slice.iter().position(|&b| b == bit).map(|p| lo + p as u64);
                        assert_eq!(first_bit(bytes, lo, hi, bit), want, "{bytes:?} {lo}..={hi} bit {bit}");
                    }
                }
            }
        }
    }

    #[test]
    fn byte_and_bit_ranges_resolve_as_redis_does() {
        // 3 bytes = 24 bits.
        assert_eq!(bit_range(3, 0, None, false), Some((0, 23)));
        assert_eq!(bit_range(3, 1, Some(1), false), Some((8, 15)));
        assert_eq!(bit_range(3, -1, Some(-1), false), Some((16, 23)));
        assert_eq!(bit_range(3, -100, Some(100), false), Some((0, 23)));
        assert_eq!(bit_range(3, 2, Some(1), false), None);
        assert_eq!(bit_range(3, 5, Some(30), true), Some((5, 23)));
        assert_eq!(bit_range(3, -3, Some(-1), true), Some((21, 23)));
        assert_eq!(bit_range(0, 0, None, false), None);
    }
}
