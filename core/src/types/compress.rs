//! Transparent value compression: a value of at least `compression-min-size` bytes is stored
//! as a packed blob when that makes it smaller; readers unpack it on access.
//!
//! Packed blob layout: `codec:u8 raw_len:u32le data`, where codec 1 = LZ4 block, 2 = zlib
//! stream, 3 = LZ4 block against a dictionary (`data` is then `slot:u32le lz4`). The raw
//! length is in the header so STRLEN/HSTRLEN never decompress and the decompressor allocates
//! exactly once. A value that does not shrink is stored plain, so a packed blob is always
//! strictly smaller than its raw value.
//!
//! Dictionaries: values worth compressing in one database tend to share structure (JSON
//! sessions with the same fields) that a single 1 KiB value cannot exploit on its own (LZ4
//! leaves ~0.76 of such a value; against a dictionary of earlier values, ~0.25). Each keyspace
//! owns a dictionary *slot* (`new_slot`): the first values it compresses with LZ4 are sampled
//! into the slot until `TRAIN_BYTES` are collected; from then on LZ4 compresses against that
//! sample (the dictionary is fixed once built, so every blob made with it stays readable).
//! Slots are process-wide, so unpacking needs no database handle; a keyspace releases its
//! slot when it is dropped (its blobs are gone with it: values never move between
//! keyspaces), and a released slot is reused. With more than `SLOTS` live databases the
//! extra ones compress without a dictionary. Dictionary blobs never leave the process:
//! snapshots store such values raw (`portable`), and loading compresses them again.

use std::sync::{Arc, OnceLock};

use crate::sync::{Mutex, RwLock};

use crate::config::Codec;

const HEADER: usize = 5;
const CODEC_LZ4: u8 = 1;
const CODEC_ZLIB: u8 = 2;
const CODEC_LZ4_DICT: u8 = 3;

/// Dictionary slots per process (slot 0 means "no dictionary").
const SLOTS: usize = 1024;
/// Sample bytes collected before the dictionary is built (LZ4 looks back at most 64 KiB).
const TRAIN_BYTES: usize = 60 << 10;
/// Values sampled at most (a few large values must not make the whole dictionary).
const TRAIN_VALUE_MAX: usize = 4 << 10;

/// A dictionary slot: the samples while training, then the dictionary.
#[derive(Default)]
struct Slot {
    samples: Mutex<Vec<u8>>,
    dict: RwLock<Option<Arc<[u8]>>>,
}

/// The slot table and the ids free for reuse.
struct Slots {
    table: Box<[Slot]>,
    free: Mutex<(Vec<u32>, u32)>,
}

fn slots() -> &'static Slots {
    static SLOT_TABLE: OnceLock<Slots> = OnceLock::new();
    SLOT_TABLE.get_or_init(|| Slots { table: (0..SLOTS).map(|_| Slot::default()).collect(), free: Mutex::new((Vec::new(), 1)) })
}

/// A dictionary slot for a new keyspace (0 when all are taken: no dictionary).
pub(crate) fn new_slot() -> u32 {
    let mut free = slots().free.lock();
    if let Some(id) = free.0.pop() {
        return id;
    }
    let id = free.1;
    if id as usize >= SLOTS {
        return 0;
    }
    free.1 += 1;
    id
}

/// Give slot `id` back (its keyspace is being dropped: no blob made with it survives).
pub(crate) fn release_slot(id: u32) {
    if id == 0 {
        return;
    }
    let s = slots();
    let slot = &s.table[id as usize];
    *slot.samples.lock() = Vec::new();
    *slot.dict.write() = None;
    s.free.lock().0.push(id);
}

fn slot(id: u32) -> Option<&'static Slot> {
    if id == 0 {
        return None;
    }
    slots().table.get(id as usize)
}

fn dictionary_of(id: u32) -> Option<Arc<[u8]>> {
    slot(id)?.dict.read().clone()
}

/// Bytes of the dictionary built in slot `id` (0 while training or without one).
pub(crate) fn dictionary_size(id: u32) -> usize {
    dictionary_of(id).map_or(0, |d| d.len())
}

/// The live compression setting (copied out of the keyspace's tuning for one command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Compression {
    pub(crate) codec: Codec,
    pub(crate) min_size: usize,
    /// The keyspace's dictionary slot (0 = none).
    pub(crate) slot: u32,
}

impl Compression {
    pub(crate) const OFF: Compression = Compression { codec: Codec::None, min_size: usize::MAX, slot: 0 };

    /// The dictionary to compress against: the slot's once built; until then `raw` is taken
    /// as a sample (and the dictionary built when enough samples are in).
    fn dictionary(&self, raw: &[u8]) -> Option<Arc<[u8]>> {
        let slot = slot(self.slot)?;
        if let Some(d) = slot.dict.read().clone() {
            return Some(d);
        }
        let mut samples = slot.samples.lock();
        let mut dict = slot.dict.write();
        if dict.is_none() {
            samples.extend_from_slice(&raw[..raw.len().min(TRAIN_VALUE_MAX)]);
            if samples.len() >= TRAIN_BYTES {
                let start = samples.len() - TRAIN_BYTES;
                *dict = Some(samples[start..].into());
                *samples = Vec::new();
            }
        }
        None
    }

    /// The packed form of `raw`, or None when compression is off, `raw` is under the
    /// threshold, or the packed form would not be smaller.
    pub(crate) fn pack(&self, raw: &[u8]) -> Option<Box<[u8]>> {
        if raw.len() < self.min_size || raw.len() > u32::MAX as usize {
            return None;
        }
        let mut out = Vec::with_capacity(HEADER + raw.len() / 2);
        match self.codec {
            Codec::None => return None,
            Codec::Lz4 => match self.dictionary(raw) {
                Some(dict) => {
                    out.push(CODEC_LZ4_DICT);
                    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                    out.extend_from_slice(&self.slot.to_le_bytes());
                    let at = out.len();
                    out.resize(at + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
                    let n = lz4_flex::block::compress_into_with_dict(raw, &mut out[at..], &dict).ok()?;
                    out.truncate(at + n);
                }
                None => {
                    out.push(CODEC_LZ4);
                    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                    out.resize(HEADER + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
                    let n = lz4_flex::block::compress_into(raw, &mut out[HEADER..]).ok()?;
                    out.truncate(HEADER + n);
                }
            },
            Codec::Zlib => {
                out.push(CODEC_ZLIB);
                out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                // Room for the whole raw value: a result that does not fit is not worth keeping.
                out.reserve_exact(raw.len());
                let done = DEFLATE.with(|c| {
                    let mut c = c.borrow_mut();
                    c.reset();
                    matches!(c.compress_vec(raw, &mut out, flate2::FlushCompress::Finish), Ok(flate2::Status::StreamEnd))
                });
                if !done {
                    return None;
                }
            }
        }
        (out.len() < raw.len()).then(|| out.into_boxed_slice())
    }
}

thread_local! {
    static DEFLATE: std::cell::RefCell<flate2::Compress> =
        std::cell::RefCell::new(flate2::Compress::new(flate2::Compression::fast(), true));
    static INFLATE: std::cell::RefCell<flate2::Decompress> = std::cell::RefCell::new(flate2::Decompress::new(true));
}

/// Whether a packed blob can leave the process as is (a snapshot): not when it needs this
/// process's dictionary.
pub(crate) fn portable(packed: &[u8]) -> bool {
    packed.first() != Some(&CODEC_LZ4_DICT)
}

/// Length of the raw value a packed blob holds (no decompression).
pub(crate) fn raw_len(packed: &[u8]) -> usize {
    u32::from_le_bytes(packed[1..HEADER].try_into().expect("packed blob header")) as usize
}

/// The raw value of a packed blob made by `Compression::pack`.
///
/// Packed blobs only come from `pack` (or a snapshot whose blocks are CRC-checked), so a blob
/// that does not decode is memory corruption: this panics rather than return wrong bytes.
pub(crate) fn unpack(packed: &[u8]) -> Vec<u8> {
    unpack_any(packed).expect("corrupt compressed value in memory")
}

/// `unpack` for untrusted input (snapshot decoding): None if the blob is malformed or needs a
/// dictionary (dictionary blobs never come from outside the process).
pub(crate) fn try_unpack(packed: &[u8]) -> Option<Vec<u8>> {
    if packed.len() < HEADER || !portable(packed) {
        return None;
    }
    unpack_any(packed)
}

fn unpack_any(packed: &[u8]) -> Option<Vec<u8>> {
    if packed.len() < HEADER {
        return None;
    }
    let n = raw_len(packed);
    let data = &packed[HEADER..];
    match packed[0] {
        CODEC_LZ4 => {
            let mut out = vec![0u8; n];
            (lz4_flex::block::decompress_into(data, &mut out).ok()? == n).then_some(out)
        }
        CODEC_LZ4_DICT => {
            let id = u32::from_le_bytes(data.get(..4)?.try_into().ok()?);
            let dict = dictionary_of(id)?;
            let mut out = vec![0u8; n];
            (lz4_flex::block::decompress_into_with_dict(&data[4..], &mut out, &dict).ok()? == n).then_some(out)
        }
        CODEC_ZLIB => INFLATE.with(|d| {
            // One inflate state per thread, reset per value (building one costs more than
            // inflating a 1 KiB value).
            let mut d = d.borrow_mut();
            d.reset(true);
            let mut out = Vec::with_capacity(n);
            let status = d.decompress_vec(data, &mut out, flate2::FlushDecompress::Finish).ok()?;
            (status == flate2::Status::StreamEnd && out.len() == n && d.total_in() == data.len() as u64).then_some(out)
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_each_codec_and_plain_fallback() {
        let json: Vec<u8> = (0..40).flat_map(|i| format!("{{\"user\":{i},\"name\":\"someone\",\"cart\":[1,2,3]}}").into_bytes()).collect();
        for codec in [Codec::Lz4, Codec::Zlib] {
            let c = Compression { codec, min_size: 16, slot: 0 };
            let packed = c.pack(&json).expect("json compresses");
            assert!(packed.len() < json.len() / 2, "{codec:?}: {} of {}", packed.len(), json.len());
            assert_eq!(raw_len(&packed), json.len());
            assert_eq!(unpack(&packed), json);
            // Below the threshold, off, or incompressible: stored plain.
            assert!(Compression { codec, min_size: json.len() + 1, slot: 0 }.pack(&json).is_none());
            let noise: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
            assert!(c.pack(&noise).is_none_or(|p| p.len() < noise.len()));
        }
        assert!(Compression { codec: Codec::None, min_size: 1, slot: 0 }.pack(&json).is_none());
    }

    #[test]
    fn malformed_blobs_are_rejected() {
        let c = Compression { codec: Codec::Lz4, min_size: 1, slot: 0 };
        let mut packed = c.pack(&[7u8; 600]).unwrap().into_vec();
        assert!(try_unpack(&packed[..3]).is_none());
        packed[1] ^= 1; // wrong raw length
        assert!(try_unpack(&packed).is_none());
        packed[0] = 9;
        assert!(try_unpack(&packed).is_none());
    }

    #[test]
    fn a_dictionary_trained_on_earlier_values_shrinks_similar_ones() {
        let session = |i: u32| {
            format!(
                "{{\"session\":\"s{i:08x}\",\"user\":{{\"id\":{i},\"name\":\"user {i}\",\"email\":\"user{i}@example.com\"}},\
                 \"roles\":[\"customer\",\"beta\"],\"cart\":[{{\"sku\":\"SKU-{}\",\"qty\":{}}}],\"created\":{}}}",
                i * 7919 % 10007,
                i % 5 + 1,
                1_700_000_000 + i
            )
            .into_bytes()
        };
        let c = Compression { codec: Codec::Lz4, min_size: 16, slot: new_slot() };
        assert_ne!(c.slot, 0, "slots are released by dropped keyspaces, so one is free");
        let plain = Compression { slot: 0, ..c };
        let mut made = Vec::new();
        let mut i = 0;
        while dictionary_size(c.slot) == 0 {
            made.push((session(i), c.pack(&session(i))));
            i += 1;
            assert!(i < 10_000, "the dictionary never got built");
        }
        assert_eq!(dictionary_size(c.slot), TRAIN_BYTES);
        // Blobs made while training stay readable; new ones use the dictionary and are smaller.
        for (raw, blob) in &made {
            if let Some(b) = blob {
                assert_eq!(&unpack(b), raw);
            }
        }
        let (mut with, mut without) = (0, 0);
        for j in 100_000..100_200 {
            let raw = session(j);
            let blob = c.pack(&raw).expect("compresses");
            assert!(!portable(&blob));
            assert_eq!(unpack(&blob), raw);
            assert_eq!(raw_len(&blob), raw.len());
            assert!(try_unpack(&blob).is_none(), "dictionary blobs are never accepted from outside");
            with += blob.len();
            without += plain.pack(&raw).map_or(raw.len(), |b| b.len());
        }
        assert!(with * 2 < without, "dictionary {with} vs plain {without}");
        release_slot(c.slot);
        assert_eq!(dictionary_size(c.slot), 0);
    }
}
