//! Transparent value compression: a value of at least `compression-min-size` bytes is stored
//! as a packed blob when that makes it smaller; readers unpack it on access.
//!
//! Packed blob layout: `codec:u8 raw_len:u32le data`, where codec 1 = LZ4 block, 2 = zlib
//! stream. The raw length is in the header so STRLEN/HSTRLEN never decompress and the
//! decompressor allocates exactly once. A value that does not shrink is stored plain, so a
//! packed blob is always strictly smaller than its raw value.

use std::io::Write;

use crate::config::Codec;

const HEADER: usize = 5;
const CODEC_LZ4: u8 = 1;
const CODEC_ZLIB: u8 = 2;

/// The live compression setting (copied out of the keyspace's tuning for one command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Compression {
    pub(crate) codec: Codec,
    pub(crate) min_size: usize,
}

impl Compression {
    pub(crate) const OFF: Compression = Compression { codec: Codec::None, min_size: usize::MAX };

    /// The packed form of `raw`, or None when compression is off, `raw` is under the
    /// threshold, or the packed form would not be smaller.
    pub(crate) fn pack(&self, raw: &[u8]) -> Option<Box<[u8]>> {
        if raw.len() < self.min_size || raw.len() > u32::MAX as usize {
            return None;
        }
        let mut out = Vec::with_capacity(HEADER + raw.len() / 2);
        match self.codec {
            Codec::None => return None,
            Codec::Lz4 => {
                out.push(CODEC_LZ4);
                out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                out.resize(HEADER + lz4_flex::block::get_maximum_output_size(raw.len()), 0);
                let n = lz4_flex::block::compress_into(raw, &mut out[HEADER..]).ok()?;
                out.truncate(HEADER + n);
            }
            Codec::Zlib => {
                out.push(CODEC_ZLIB);
                out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
                let mut enc = flate2::write::ZlibEncoder::new(out, flate2::Compression::fast());
                enc.write_all(raw).ok()?;
                out = enc.finish().ok()?;
            }
        }
        (out.len() < raw.len()).then(|| out.into_boxed_slice())
    }
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
    try_unpack(packed).expect("corrupt compressed value in memory")
}

/// `unpack` for untrusted input (snapshot decoding): None if the blob is malformed.
pub(crate) fn try_unpack(packed: &[u8]) -> Option<Vec<u8>> {
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
        CODEC_ZLIB => {
            let mut out = Vec::with_capacity(n);
            let mut dec = flate2::write::ZlibDecoder::new(&mut out);
            dec.write_all(data).ok()?;
            dec.finish().ok()?;
            (out.len() == n).then_some(out)
        }
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
            let c = Compression { codec, min_size: 16 };
            let packed = c.pack(&json).expect("json compresses");
            assert!(packed.len() < json.len() / 2, "{codec:?}: {} of {}", packed.len(), json.len());
            assert_eq!(raw_len(&packed), json.len());
            assert_eq!(unpack(&packed), json);
            // Below the threshold, off, or incompressible: stored plain.
            assert!(Compression { codec, min_size: json.len() + 1 }.pack(&json).is_none());
            let noise: Vec<u8> = (0..1000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
            assert!(c.pack(&noise).is_none_or(|p| p.len() < noise.len()));
        }
        assert!(Compression { codec: Codec::None, min_size: 1 }.pack(&json).is_none());
    }

    #[test]
    fn malformed_blobs_are_rejected() {
        let c = Compression { codec: Codec::Lz4, min_size: 1 };
        let mut packed = c.pack(&[7u8; 600]).unwrap().into_vec();
        assert!(try_unpack(&packed[..3]).is_none());
        packed[1] ^= 1; // wrong raw length
        assert!(try_unpack(&packed).is_none());
        packed[0] = 9;
        assert!(try_unpack(&packed).is_none());
    }
}
