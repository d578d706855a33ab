//! The highest certificate of one protocol instance, kept in two files of
//! its own rather than in sled. The lock (the prepare certificate) is
//! written every round on the critical path and must reach stable storage
//! before the commit signature it backs is sent; sled's flush waits for its
//! own writeback before the `fdatasync` that follows it, while a `pwrite`
//! into an existing file plus one `fdatasync` costs about half as much
//! (0.14 ms against 0.27 ms on the benchmark machine).
//!
//! Guarantees:
//! - [`CertificateFiles::write`] returns once the record is in the operating
//!   system, and for a lock written with `sync` also on stable storage;
//! - opening returns the newest record that was completely written;
//! - no write ever touches the file holding the newest lock until a newer
//!   lock is complete in the other file, so a crash (of the process or the
//!   machine) in the middle of any write leaves that lock intact, and a
//!   torn record is recognised by its checksum and ignored.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

/// Marks the start of a record (and the format's version).
const MAGIC: [u8; 4] = *b"OCC1";
/// magic, generation (u64), payload length (u32), CRC-32 of the three
/// fields after the magic and the payload.
const HEADER: usize = 4 + 8 + 4 + 4;
/// Records are padded to whole pages, and a file is never shortened, so
/// once a file has held the largest record its size (metadata) no longer
/// changes and `fdatasync` flushes data only.
const PAGE: usize = 4096;

/// What a write is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// A lock: the other file is left untouched until it is written, and it
    /// is forced to stable storage if `sync`.
    Lock {
        /// Whether to `fdatasync` before returning.
        sync: bool,
    },
    /// A record that may be lost in a machine crash (a commit certificate,
    /// which only supersedes the lock of its own seq-nr): written to the
    /// file not holding the newest lock, never synced.
    Volatile,
}

/// What the files held when opened.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    /// No record was ever completed.
    Empty,
    /// The newest complete record's payload.
    Record(Vec<u8>),
    /// Both files hold a record and neither is intact. With locks synced,
    /// one of them was complete on stable storage once, so the disk or
    /// someone else damaged them. (Damage to one file alone cannot be told
    /// from a write torn by a crash: the other file's record is read.)
    Damaged,
}

/// The two files of one instance, open for writing.
#[derive(Debug)]
pub struct CertificateFiles {
    files: [File; 2],
    /// The generation of the newest record written or found.
    generation: u64,
    /// Which file holds the newest lock (the file writes must not touch).
    lock_file: Option<usize>,
}

impl CertificateFiles {
    /// Opens (creating them if needed) the files `<dir>/<name>.a` and
    /// `<dir>/<name>.b` and reads the newest complete record. Both files,
    /// `dir` and its parent are synced first, so the files' names and
    /// whatever is read are on stable storage before anything is written
    /// over the other file (a crash right after creating them may have
    /// left their names unsynced).
    ///
    /// The newest record found is treated as the lock even when it was
    /// written [`Record::Volatile`]: the next write goes to the other file.
    /// That is sound only because of the `sync_data` of both files below,
    /// which makes the record read stable before anything overwrites the
    /// older one; it is not a read-only nicety.
    pub fn open(dir: &Path, name: &str) -> io::Result<(Self, Loaded)> {
        std::fs::create_dir_all(dir)?;
        let open = |suffix: &str| -> io::Result<File> {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join(format!("{name}.{suffix}")))
        };
        let files = [open("a")?, open("b")?];
        File::open(dir)?.sync_all()?;
        if let Some(parent) = dir.parent() {
            File::open(parent)?.sync_all()?;
        }
        let mut found = [None, None];
        let mut present = 0;
        for (slot, file) in files.iter().enumerate() {
            file.sync_data()?;
            let bytes = read_all(file)?;
            if bytes.iter().any(|b| *b != 0) {
                present += 1;
            }
            found[slot] = parse(&bytes);
        }
        let newest = found
            .iter()
            .enumerate()
            .filter_map(|(slot, record)| record.as_ref().map(|(generation, _)| (*generation, slot)))
            .max();
        let loaded = match newest {
            Some((_, slot)) => found[slot].take().map_or(Loaded::Empty, |(_, payload)| Loaded::Record(payload)),
            None if present == 2 => Loaded::Damaged,
            None => Loaded::Empty,
        };
        let generation = newest.map_or(0, |(generation, _)| generation);
        Ok((Self { files, generation, lock_file: newest.map(|(_, slot)| slot) }, loaded))
    }

    /// Writes `payload` as the newest record.
    pub fn write(&mut self, payload: &[u8], record: Record) -> io::Result<()> {
        let target = self.lock_file.map_or(0, |slot| 1 - slot);
        let generation =
            self.generation.checked_add(1).ok_or_else(|| io::Error::other("certificate generations exhausted"))?;
        self.files[target].write_all_at(&encode(generation, payload), 0)?;
        self.generation = generation;
        if let Record::Lock { sync } = record {
            if sync {
                self.files[target].sync_data()?;
            }
            self.lock_file = Some(target);
        }
        Ok(())
    }
}

fn read_all(mut file: &File) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes)?;
    Ok(bytes)
}

fn checksum(generation: u64, payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&generation.to_le_bytes());
    crc.update(&(payload.len() as u64).to_le_bytes());
    crc.update(payload);
    crc.finalize()
}

fn encode(generation: u64, payload: &[u8]) -> Vec<u8> {
    let length = HEADER + payload.len();
    let mut out = Vec::with_capacity(length.div_ceil(PAGE) * PAGE);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&generation.to_le_bytes());
    // Payloads are certificates, far below 4 GiB (the wire limits bound them).
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&checksum(generation, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out.resize(length.div_ceil(PAGE) * PAGE, 0);
    out
}

/// The record at the start of `bytes`, if it is complete and intact.
fn parse(bytes: &[u8]) -> Option<(u64, Vec<u8>)> {
    let header = bytes.get(..HEADER)?;
    if header[..4] != MAGIC {
        return None;
    }
    let generation = u64::from_le_bytes(header[4..12].try_into().ok()?);
    let length = usize::try_from(u32::from_le_bytes(header[12..16].try_into().ok()?)).ok()?;
    let crc = u32::from_le_bytes(header[16..20].try_into().ok()?);
    let payload = bytes.get(HEADER..HEADER.checked_add(length)?)?;
    (checksum(generation, payload) == crc).then(|| (generation, payload.to_vec()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn reopen(dir: &Path) -> Loaded {
        CertificateFiles::open(dir, "x").unwrap().1
    }

    /// Flips a byte of a record's payload in one file, as a torn write would
    /// leave it.
    fn damage(dir: &Path, suffix: &str) {
        let path = dir.join(format!("x.{suffix}"));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER] ^= 0xff;
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn the_newest_record_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (mut files, loaded) = CertificateFiles::open(dir.path(), "x").unwrap();
        assert_eq!(loaded, Loaded::Empty);
        for (i, record) in
            [Record::Lock { sync: true }, Record::Volatile, Record::Lock { sync: false }].iter().enumerate()
        {
            files.write(format!("record {i}").as_bytes(), *record).unwrap();
            assert_eq!(reopen(dir.path()), Loaded::Record(format!("record {i}").into_bytes()));
        }
        let long = vec![7u8; 3 * PAGE];
        files.write(&long, Record::Lock { sync: true }).unwrap();
        files.write(b"between", Record::Lock { sync: true }).unwrap();
        files.write(b"short", Record::Lock { sync: true }).unwrap();
        assert_eq!(reopen(dir.path()), Loaded::Record(b"short".to_vec()), "a shorter record over a longer one");
    }

    #[test]
    fn a_torn_write_leaves_the_previous_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (mut files, _) = CertificateFiles::open(dir.path(), "x").unwrap();
        files.write(b"lock 1", Record::Lock { sync: true }).unwrap();
        files.write(b"lock 2", Record::Lock { sync: true }).unwrap();
        // lock 2 went to b; a torn lock 3 would be in a.
        files.write(b"lock 3", Record::Lock { sync: true }).unwrap();
        damage(dir.path(), "a");
        assert_eq!(reopen(dir.path()), Loaded::Record(b"lock 2".to_vec()));
    }

    #[test]
    fn volatile_records_never_overwrite_the_newest_lock() {
        let dir = tempfile::tempdir().unwrap();
        let (mut files, _) = CertificateFiles::open(dir.path(), "x").unwrap();
        files.write(b"lock", Record::Lock { sync: true }).unwrap();
        files.write(b"commit 1", Record::Volatile).unwrap();
        files.write(b"commit 2", Record::Volatile).unwrap();
        assert_eq!(reopen(dir.path()), Loaded::Record(b"commit 2".to_vec()));
        // Both commits went to b: losing it loses only them.
        damage(dir.path(), "b");
        assert_eq!(reopen(dir.path()), Loaded::Record(b"lock".to_vec()));
    }

    #[test]
    fn writes_continue_after_reopening_without_touching_the_lock_read() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut files, _) = CertificateFiles::open(dir.path(), "x").unwrap();
            files.write(b"lock 1", Record::Lock { sync: true }).unwrap();
            files.write(b"commit 1", Record::Volatile).unwrap();
        }
        let (mut files, loaded) = CertificateFiles::open(dir.path(), "x").unwrap();
        assert_eq!(loaded, Loaded::Record(b"commit 1".to_vec()));
        // The record read (in b) is now the one to keep: the next write goes to a.
        files.write(b"commit 2", Record::Volatile).unwrap();
        damage(dir.path(), "a");
        assert_eq!(reopen(dir.path()), Loaded::Record(b"commit 1".to_vec()));
    }

    #[test]
    fn two_damaged_records_are_an_error_and_a_torn_first_write_is_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut files, _) = CertificateFiles::open(dir.path(), "x").unwrap();
        files.write(b"lock 1", Record::Lock { sync: true }).unwrap();
        damage(dir.path(), "a");
        assert_eq!(reopen(dir.path()), Loaded::Empty, "the very first write, torn, never completed");
        let (mut files, _) = CertificateFiles::open(dir.path(), "x").unwrap();
        files.write(b"lock 2", Record::Lock { sync: true }).unwrap();
        files.write(b"lock 3", Record::Lock { sync: true }).unwrap();
        damage(dir.path(), "a");
        damage(dir.path(), "b");
        assert_eq!(reopen(dir.path()), Loaded::Damaged);
    }

    #[test]
    fn parsing_refuses_anything_but_a_whole_record() {
        let record = encode(9, b"payload");
        assert_eq!(parse(&record), Some((9, b"payload".to_vec())));
        for cut in [0, 3, HEADER - 1, HEADER + 3] {
            assert_eq!(parse(&record[..cut]), None, "cut at {cut}");
        }
        let mut other_magic = record.clone();
        other_magic[0] = b'X';
        assert_eq!(parse(&other_magic), None);
        let mut other_generation = record;
        other_generation[4] ^= 1;
        assert_eq!(parse(&other_generation), None);
    }
}
