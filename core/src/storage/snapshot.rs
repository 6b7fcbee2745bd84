//! Snapshot files: a point-in-time image of the keyspace at one log sequence number, as a
//! sequence of LZ4-compressed blocks, each with its own CRC. This module knows blocks and bytes;
//! what an entry is (`keyspace::codec`) is not its business.
//!
//! Layout of `snap-<seq, 20 digits>.snap` (integers little-endian):
//! ```text
//! header (32 B): "NESTSNAP" | version u32 = 1 | reserved u32 | seq u64 | created_ms i64
//!                (followed by crc u32 of those 32 bytes)
//! block*:        raw_len u32 | comp_len u32 | entries u32 | crc u32 (of the compressed bytes)
//!                | comp_len bytes of LZ4 block data (lz4_flex, raw block format)
//! footer (28 B): "NESTEND\0" | blocks u64 | entries u64 | crc u32 (of the 24 bytes before it)
//! ```
//! Written to `snap-<seq>.snap.tmp`, fsynced, renamed, directory fsynced. A file without a valid
//! footer is incomplete and never used.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::fault::{self, Op};
use super::fsync_dir;

const MAGIC: &[u8; 8] = b"NESTSNAP";
const END: &[u8; 8] = b"NESTEND\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 36;
const BLOCK_HEADER: usize = 16;
const FOOTER_LEN: usize = 28;
/// Raw bytes per block before compression.
pub(crate) const BLOCK_TARGET: usize = 64 << 10;

/// Writes one snapshot file.
pub(crate) struct SnapshotWriter {
    out: BufWriter<File>,
    dir: PathBuf,
    tmp: PathBuf,
    path: PathBuf,
    block: Vec<u8>,
    block_entries: u32,
    blocks: u64,
    entries: u64,
    bytes: u64,
    compressed: Vec<u8>,
}

impl SnapshotWriter {
    pub(crate) fn create(dir: &Path, name: &str, seq: u64, created_ms: i64) -> io::Result<SnapshotWriter> {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        let file = super::owner_only(OpenOptions::new().create(true).write(true).truncate(true)).open(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        header.extend_from_slice(&seq.to_le_bytes());
        header.extend_from_slice(&created_ms.to_le_bytes());
        let crc = crc32fast::hash(&header);
        header.extend_from_slice(&crc.to_le_bytes());
        out.write_all(&header)?;
        Ok(SnapshotWriter {
            out,
            dir: dir.to_path_buf(),
            tmp,
            path,
            block: Vec::with_capacity(BLOCK_TARGET + (BLOCK_TARGET >> 2)),
            block_entries: 0,
            blocks: 0,
            entries: 0,
            bytes: HEADER_LEN as u64,
            compressed: Vec::new(),
        })
    }

    /// Add `n` encoded entries (a concatenation of `keyspace::codec` encodings). Entries never
    /// straddle blocks.
    pub(crate) fn add(&mut self, encoded: &[u8], n: u32) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        if !self.block.is_empty() && self.block.len() + encoded.len() > BLOCK_TARGET {
            self.finish_block()?;
        }
        self.block.extend_from_slice(encoded);
        self.block_entries += n;
        if self.block.len() >= BLOCK_TARGET {
            self.finish_block()?;
        }
        Ok(())
    }

    fn finish_block(&mut self) -> io::Result<()> {
        if self.block_entries == 0 {
            self.block.clear();
            return Ok(());
        }
        if self.block.len() > u32::MAX as usize - 1024 {
            return Err(io::Error::other("snapshot entry larger than 4 GiB"));
        }
        let max = lz4_flex::block::get_maximum_output_size(self.block.len());
        self.compressed.resize(max, 0);
        let n = lz4_flex::block::compress_into(&self.block, &mut self.compressed).map_err(io::Error::other)?;
        let comp = &self.compressed[..n];
        let mut head = [0u8; BLOCK_HEADER];
        head[0..4].copy_from_slice(&(self.block.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&(n as u32).to_le_bytes());
        head[8..12].copy_from_slice(&self.block_entries.to_le_bytes());
        head[12..16].copy_from_slice(&crc32fast::hash(comp).to_le_bytes());
        fault::check(&self.dir, Op::SnapshotWrite)?;
        self.out.write_all(&head)?;
        self.out.write_all(comp)?;
        self.bytes += (BLOCK_HEADER + n) as u64;
        self.blocks += 1;
        self.entries += u64::from(self.block_entries);
        self.block.clear();
        self.block_entries = 0;
        Ok(())
    }

    /// Write the footer, fsync, rename into place and fsync the directory. Returns the file size.
    pub(crate) fn finish(mut self) -> io::Result<(u64, u64)> {
        match self.write_footer_and_sync() {
            Ok(()) => {}
            Err(e) => {
                self.abort();
                return Err(e);
            }
        }
        if let Err(e) = std::fs::rename(&self.tmp, &self.path) {
            self.abort();
            return Err(e);
        }
        fsync_dir(&self.dir)?;
        Ok((self.bytes + FOOTER_LEN as u64, self.entries))
    }

    fn write_footer_and_sync(&mut self) -> io::Result<()> {
        self.finish_block()?;
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(END);
        footer.extend_from_slice(&self.blocks.to_le_bytes());
        footer.extend_from_slice(&self.entries.to_le_bytes());
        let crc = crc32fast::hash(&footer);
        footer.extend_from_slice(&crc.to_le_bytes());
        fault::check(&self.dir, Op::SnapshotWrite)?;
        self.out.write_all(&footer)?;
        self.out.flush()?;
        self.out.get_ref().sync_all()
    }

    /// Abandon the file (error paths).
    pub(crate) fn abort(self) {
        let tmp = self.tmp.clone();
        drop(self);
        let _ = std::fs::remove_file(tmp);
    }
}

/// A snapshot file mapped for reading, with its header and footer verified.
pub(crate) struct SnapshotFile {
    map: memmap2::Mmap,
    path: PathBuf,
    pub(crate) seq: u64,
    pub(crate) entries: u64,
    pub(crate) blocks: u64,
}

/// A compressed block located in the file.
pub(crate) struct BlockRef {
    offset: usize,
    raw_len: usize,
    comp_len: usize,
    pub(crate) entries: u32,
    crc: u32,
}

impl SnapshotFile {
    pub(crate) fn open(path: &Path) -> Result<SnapshotFile, String> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the file is opened read-only and nestdb never modifies a snapshot after its
        // rename; another process changing it would violate the LOCK protocol.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{}: mmap: {e}", path.display()))?;
        let bad = |what: &str| format!("{}: {what}", path.display());
        if map.len() < HEADER_LEN + FOOTER_LEN {
            return Err(bad("snapshot file too short"));
        }
        if &map[0..8] != MAGIC {
            return Err(bad("not a nestdb snapshot (bad magic)"));
        }
        if crc32fast::hash(&map[0..32]) != u32::from_le_bytes(map[32..36].try_into().expect("4")) {
            return Err(bad("snapshot header CRC mismatch"));
        }
        let version = u32::from_le_bytes(map[8..12].try_into().expect("4"));
        if version != VERSION {
            return Err(bad(&format!("unsupported snapshot version {version}")));
        }
        let seq = u64::from_le_bytes(map[16..24].try_into().expect("8"));
        let f = &map[map.len() - FOOTER_LEN..];
        if &f[0..8] != END || crc32fast::hash(&f[0..24]) != u32::from_le_bytes(f[24..28].try_into().expect("4")) {
            return Err(bad("snapshot footer missing or damaged (incomplete file)"));
        }
        let blocks = u64::from_le_bytes(f[8..16].try_into().expect("8"));
        let entries = u64::from_le_bytes(f[16..24].try_into().expect("8"));
        Ok(SnapshotFile { map, path: path.to_path_buf(), seq, entries, blocks })
    }

    /// Locate every block (headers only; no decompression). Errors name the offset.
    pub(crate) fn blocks(&self) -> Result<Vec<BlockRef>, String> {
        let end = self.map.len() - FOOTER_LEN;
        let mut pos = HEADER_LEN;
        let mut out = Vec::with_capacity(self.blocks.min(1 << 24) as usize);
        while pos < end {
            if end - pos < BLOCK_HEADER {
                return Err(format!("{}: truncated block header at offset {pos}", self.path.display()));
            }
            let h = &self.map[pos..pos + BLOCK_HEADER];
            let raw_len = u32::from_le_bytes(h[0..4].try_into().expect("4")) as usize;
            let comp_len = u32::from_le_bytes(h[4..8].try_into().expect("4")) as usize;
            let entries = u32::from_le_bytes(h[8..12].try_into().expect("4"));
            let crc = u32::from_le_bytes(h[12..16].try_into().expect("4"));
            if comp_len > end - pos - BLOCK_HEADER || raw_len > comp_len.saturating_mul(256) + 1024 {
                return Err(format!("{}: bad block lengths at offset {pos}", self.path.display()));
            }
            out.push(BlockRef { offset: pos, raw_len, comp_len, entries, crc });
            pos += BLOCK_HEADER + comp_len;
        }
        if out.len() as u64 != self.blocks || out.iter().map(|b| u64::from(b.entries)).sum::<u64>() != self.entries {
            return Err(format!("{}: block count does not match the footer", self.path.display()));
        }
        Ok(out)
    }

    /// Verify and decompress one block into `out` (cleared first).
    pub(crate) fn read_block(&self, b: &BlockRef, out: &mut Vec<u8>) -> Result<(), String> {
        let comp = &self.map[b.offset + BLOCK_HEADER..b.offset + BLOCK_HEADER + b.comp_len];
        if crc32fast::hash(comp) != b.crc {
            return Err(format!("{}: block CRC mismatch at offset {}", self.path.display(), b.offset));
        }
        out.clear();
        out.resize(b.raw_len, 0);
        let n = lz4_flex::block::decompress_into(comp, out)
            .map_err(|e| format!("{}: block at offset {} does not decompress: {e}", self.path.display(), b.offset))?;
        if n != b.raw_len {
            return Err(format!("{}: block at offset {} has the wrong length", self.path.display(), b.offset));
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn block_offset(b: &BlockRef) -> usize {
        b.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SnapshotWriter::create(dir.path(), "snap-1.snap", 7, 123).unwrap();
        let mut total = Vec::new();
        for i in 0..10_000u32 {
            let e = format!("entry-{i:08}|");
            w.add(e.as_bytes(), 1).unwrap();
            total.extend_from_slice(e.as_bytes());
        }
        w.finish().unwrap();
        let f = SnapshotFile::open(&dir.path().join("snap-1.snap")).unwrap();
        assert_eq!((f.seq, f.entries), (7, 10_000));
        let mut all = Vec::new();
        let mut buf = Vec::new();
        for b in f.blocks().unwrap() {
            f.read_block(&b, &mut buf).unwrap();
            all.extend_from_slice(&buf);
        }
        assert_eq!(all, total);
        assert!(!dir.path().join("snap-1.snap.tmp").exists());
    }

    #[test]
    fn flipped_byte_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SnapshotWriter::create(dir.path(), "s.snap", 1, 0).unwrap();
        for i in 0..5000u32 {
            w.add(format!("value number {i} ").as_bytes(), 1).unwrap();
        }
        w.finish().unwrap();
        let path = dir.path().join("s.snap");
        let clean = std::fs::read(&path).unwrap();
        for at in [40usize, clean.len() / 2, clean.len() - 40, 3, clean.len() - 3] {
            let mut data = clean.clone();
            data[at] ^= 0x10;
            std::fs::write(&path, &data).unwrap();
            let res = SnapshotFile::open(&path).and_then(|f| {
                let mut buf = Vec::new();
                for b in f.blocks()? {
                    f.read_block(&b, &mut buf)?;
                }
                Ok(())
            });
            assert!(res.is_err(), "flip at {at} went unnoticed");
        }
    }
}
