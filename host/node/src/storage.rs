//! The node's durable state: per protocol instance the pacemaker state (in
//! sled, one tree per config digest) and the highest certificate (in two
//! files of its own, [`crate::certificate_file`], because it is written every
//! round), and in sled the last network config the node ran, so that a
//! restarted node resumes at once. Every write is in the operating system
//! before it returns, because the core sends the messages that depend on it
//! right after; the writes the protocol's safety rests on are also on stable
//! storage (see [`SledStorage::persist_certificate`]).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use ocr_core::certificate::Certificate;
use ocr_core::oracle::Persisted;
use ocr_core::pacemaker::PacemakerState;
use ocr_core::storage::Storage;
use ocr_core::wire;
use ocr_plugin_sdk::ConfigDigest;

use crate::certificate_file::{CertificateFiles, Loaded, Record};

const PACEMAKER: &[u8] = b"pacemaker";
const CERTIFICATE: &[u8] = b"certificate";
const LAST_CONFIG: &[u8] = b"last-config";
/// sled's page cache bound.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Where the certificate files are, inside the storage directory.
const CERTIFICATES_DIR: &str = "certificates";
/// Instances whose certificate files stay open; a node runs one at a time
/// (two around a config switch), so more only happens over many switches.
const OPEN_INSTANCES: usize = 4;

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// sled failed (I/O, corruption it detected).
    #[error("database at {path}: {source}")]
    Database {
        /// The database directory.
        path: String,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// The files could not be forced to stable storage.
    #[error("syncing the database at {path}: {source}")]
    Sync {
        /// The database directory.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A certificate file could not be read or written.
    #[error("certificate file in {path}: {source}")]
    CertificateFile {
        /// The directory of the certificate files.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored value does not decode: the database was damaged or written
    /// by an incompatible version. The node refuses to guess.
    #[error("stored {what} of instance {digest} is unreadable: {reason}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// The instance.
        digest: String,
        /// The decoder's complaint.
        reason: String,
    },
}

/// How durable a persist is when it returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// On stable storage: survives a crash of the machine (power loss,
    /// kernel panic). sled's own flush on Linux is `sync_file_range`, which
    /// neither flushes the device's write cache nor metadata, so the node
    /// adds an `fdatasync` of sled's files after a pacemaker write, and of
    /// the certificate file after a prepare certificate: one device flush
    /// per round (see [`SledStorage::persist_certificate`] for why commit
    /// certificates need none).
    #[default]
    Machine,
    /// In the operating system: survives a crash or SIGKILL of the node
    /// process, not of the machine. For benchmarks, and for machines whose
    /// disks have power-loss protection anyway.
    Process,
}

/// [`Storage`] in sled and, for certificates, files of their own.
pub struct SledStorage {
    db: sled::Db,
    /// sled's log file, kept open for `fdatasync`.
    log: std::fs::File,
    path: String,
    dir: std::path::PathBuf,
    durability: Durability,
    certificates: Mutex<HashMap<ConfigDigest, CertificateFiles>>,
}

impl SledStorage {
    /// Opens (or creates) the database in `dir`, with machine-crash
    /// durability.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        Self::open_with(dir, Durability::Machine)
    }

    /// Opens (or creates) the database in `dir`.
    pub fn open_with(dir: &Path, durability: Durability) -> Result<Self, StorageError> {
        let path = dir.display().to_string();
        let db = sled::Config::new()
            .path(dir)
            // A few small values per instance: sled's default page cache
            // (1 GiB) would only let the process grow.
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| StorageError::Database { path: path.clone(), source })?;
        let log =
            std::fs::File::open(dir.join("db")).map_err(|source| StorageError::Sync { path: path.clone(), source })?;
        Ok(Self { db, log, path, dir: dir.to_path_buf(), durability, certificates: Mutex::new(HashMap::new()) })
    }

    /// Forces sled's files (the log and any blobs) to stable storage.
    fn sync_files(&self) -> Result<(), StorageError> {
        let io = |source: std::io::Error| StorageError::Sync { path: self.path.clone(), source };
        self.log.sync_data().map_err(io)?;
        let blobs = self.dir.join("blobs");
        if let Ok(entries) = std::fs::read_dir(&blobs) {
            let mut any = false;
            for entry in entries.flatten() {
                std::fs::File::open(entry.path()).and_then(|f| f.sync_data()).map_err(io)?;
                any = true;
            }
            if any {
                std::fs::File::open(&blobs).and_then(|d| d.sync_all()).map_err(io)?;
            }
        }
        Ok(())
    }

    fn db_error(&self, source: sled::Error) -> StorageError {
        StorageError::Database { path: self.path.clone(), source }
    }

    fn certificate_file_error(&self, source: std::io::Error) -> StorageError {
        StorageError::CertificateFile { path: self.dir.join(CERTIFICATES_DIR).display().to_string(), source }
    }

    /// Runs `f` on the instance's certificate files, opening them (and
    /// handing `f` what they hold) if they are not open yet or `reopen`.
    fn with_certificate_files<R>(
        &self,
        digest: &ConfigDigest,
        reopen: bool,
        f: impl FnOnce(&mut CertificateFiles, Option<Loaded>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let mut open = self.certificates.lock().unwrap_or_else(PoisonError::into_inner);
        if reopen {
            open.remove(digest);
        }
        if open.len() >= OPEN_INSTANCES && !open.contains_key(digest) {
            let other = open.keys().next().copied();
            if let Some(other) = other {
                open.remove(&other);
            }
        }
        match open.entry(*digest) {
            Entry::Occupied(entry) => f(entry.into_mut(), None),
            Entry::Vacant(entry) => {
                let (files, found) = CertificateFiles::open(
                    &self.dir.join(CERTIFICATES_DIR),
                    &format!("instance-{}", hex::encode(digest.0)),
                )
                .map_err(|source| self.certificate_file_error(source))?;
                f(entry.insert(files), Some(found))
            }
        }
    }

    fn tree(&self, digest: &ConfigDigest) -> Result<sled::Tree, StorageError> {
        self.db.open_tree(format!("instance/{}", hex::encode(digest.0))).map_err(|e| self.db_error(e))
    }

    /// Writes `value` and returns once it is in the operating system, and
    /// also on stable storage if `stable` and the node asked for machine
    /// durability.
    fn put(&self, tree: &sled::Tree, key: &[u8], value: Vec<u8>, stable: bool) -> Result<(), StorageError> {
        tree.insert(key, value).map_err(|e| self.db_error(e))?;
        tree.flush().map_err(|e| self.db_error(e))?;
        if stable && self.durability == Durability::Machine {
            self.sync_files()?;
        }
        Ok(())
    }

    /// The last network config saved with [`Self::save_last_config`].
    pub fn last_config(&self) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(LAST_CONFIG).map_err(|e| self.db_error(e))?.map(|v| v.to_vec()))
    }

    /// Remembers the network config the node runs.
    pub fn save_last_config(&self, bytes: &[u8]) -> Result<(), StorageError> {
        self.db.insert(LAST_CONFIG, bytes).map_err(|e| self.db_error(e))?;
        self.db.flush().map_err(|e| self.db_error(e))?;
        self.sync_files()
    }
}

impl Storage for SledStorage {
    type Error = StorageError;

    fn load(&self, digest: &ConfigDigest) -> Result<Persisted, StorageError> {
        let tree = self.tree(digest)?;
        let corrupt = |what, reason: wire::DecodeError| StorageError::Corrupt {
            what,
            digest: hex::encode(digest.0),
            reason: reason.to_string(),
        };
        let pacemaker = match tree.get(PACEMAKER).map_err(|e| self.db_error(e))? {
            Some(bytes) => Some(wire::decode_pacemaker(&bytes).map_err(|e| corrupt("pacemaker state", e))?),
            None => None,
        };
        // The files are opened afresh so that what they hold is read. A
        // database written before the certificate had files of its own
        // keeps it in sled, and the higher of the two is the lock.
        let from_files = match self.with_certificate_files(digest, true, |_, loaded| Ok(loaded))? {
            Some(Loaded::Record(bytes)) => Some(bytes),
            Some(Loaded::Damaged) => {
                return Err(StorageError::Corrupt {
                    what: "certificate",
                    digest: hex::encode(digest.0),
                    reason: "both certificate files are damaged".to_owned(),
                });
            }
            Some(Loaded::Empty) | None => None,
        };
        let from_sled = tree.get(CERTIFICATE).map_err(|e| self.db_error(e))?.map(|v| v.to_vec());
        let mut certificate: Option<Certificate> = None;
        for bytes in [from_files, from_sled].into_iter().flatten() {
            let found = wire::decode_certificate(&bytes).map_err(|e| corrupt("certificate", e))?;
            // The higher of the two: a node downgraded to a version that
            // keeps certificates in sled, then upgraded again, may have
            // locked on newer ones there.
            if certificate.as_ref().is_none_or(|c| found.timestamp() > c.timestamp()) {
                certificate = Some(found);
            }
        }
        Ok(Persisted { pacemaker, certificate })
    }

    fn persist_pacemaker(&self, digest: &ConfigDigest, state: &PacemakerState) -> Result<(), StorageError> {
        self.put(&self.tree(digest)?, PACEMAKER, wire::encode_pacemaker(state), true)
    }

    /// A prepare certificate is the lock (reference §10): it goes to stable
    /// storage before the commit signature it backs is sent, or a power
    /// loss could let this oracle help commit a different outcome in a later
    /// epoch. A commit certificate only supersedes the lock of the same
    /// seq-nr, which is already stable, so it is written to the operating
    /// system only, into the certificate file that does not hold the lock:
    /// a power loss can lose it (or tear it), and then the restarted oracle
    /// still holds that lock and reports it at the next epoch start, as the
    /// protocol requires. What such a loss costs is a repeat, not a fork:
    /// the outcome may be delivered to report attestation again, with the
    /// same reports. This saves one device flush per round.
    fn persist_certificate(&self, digest: &ConfigDigest, certificate: &Certificate) -> Result<(), StorageError> {
        let record = match certificate {
            Certificate::Commit(_) => Record::Volatile,
            Certificate::Prepare(_) => Record::Lock { sync: self.durability == Durability::Machine },
        };
        let bytes = wire::encode_certificate(certificate);
        self.with_certificate_files(digest, false, |files, _| {
            files.write(&bytes, record).map_err(|source| self.certificate_file_error(source))
        })
    }

    /// A lock under machine durability is flushed to the device; so is
    /// anything written to an instance whose files are not open, since
    /// opening them syncs them and their directories.
    fn certificate_write_waits_for_device(&self, digest: &ConfigDigest, certificate: &Certificate) -> bool {
        let lock = matches!(certificate, Certificate::Prepare(_)) && self.durability == Durability::Machine;
        lock || !self.certificates.lock().unwrap_or_else(PoisonError::into_inner).contains_key(digest)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ocr_core::certificate::{CertifiedCommit, CertifiedPrepare};

    use super::*;

    #[test]
    fn what_was_persisted_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let digest = ConfigDigest([3; 32]);
        let other = ConfigDigest([4; 32]);
        let state = PacemakerState { epoch: 7, highest_sent_wish: 9 };
        let certificate = Certificate::Commit(CertifiedCommit {
            epoch: 6,
            seq_nr: 41,
            outcome: b"outcome".to_vec(),
            signatures: vec![(0, [1; 64]), (2, [2; 64]), (3, [3; 64])],
        });
        {
            let storage = SledStorage::open(dir.path()).unwrap();
            assert_eq!(storage.load(&digest).unwrap(), Persisted::default());
            storage.persist_pacemaker(&digest, &state).unwrap();
            storage.persist_certificate(&digest, &certificate).unwrap();
            storage.save_last_config(b"config").unwrap();
        }
        let storage = SledStorage::open(dir.path()).unwrap();
        let loaded = storage.load(&digest).unwrap();
        assert_eq!(loaded.pacemaker, Some(state));
        assert_eq!(loaded.certificate, Some(certificate));
        assert_eq!(storage.load(&other).unwrap(), Persisted::default(), "instances are separate");
        assert_eq!(storage.last_config().unwrap().as_deref(), Some(&b"config"[..]));
    }

    #[test]
    fn the_higher_of_the_certificate_files_and_sleds_older_record_is_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let digest = ConfigDigest([6; 32]);
        let old = Certificate::Commit(CertifiedCommit {
            epoch: 2,
            seq_nr: 10,
            outcome: b"old".to_vec(),
            signatures: vec![(0, [1; 64]), (1, [2; 64]), (2, [3; 64])],
        });
        let new = Certificate::Commit(CertifiedCommit { seq_nr: 11, outcome: b"new".to_vec(), ..commit_of(&old) });
        {
            let storage = SledStorage::open(dir.path()).unwrap();
            let tree = storage.tree(&digest).unwrap();
            storage.put(&tree, CERTIFICATE, wire::encode_certificate(&old), true).unwrap();
        }
        let storage = SledStorage::open(dir.path()).unwrap();
        assert_eq!(storage.load(&digest).unwrap().certificate, Some(old));
        storage.persist_certificate(&digest, &new).unwrap();
        drop(storage);
        let storage = SledStorage::open(dir.path()).unwrap();
        assert_eq!(storage.load(&digest).unwrap().certificate, Some(new.clone()));
        // Downgraded, the node locked on newer certificates in sled; upgraded
        // again, it must not go back to what the files hold.
        let newer = Certificate::Commit(CertifiedCommit { seq_nr: 12, outcome: b"newer".to_vec(), ..commit_of(&new) });
        let tree = storage.tree(&digest).unwrap();
        storage.put(&tree, CERTIFICATE, wire::encode_certificate(&newer), true).unwrap();
        assert_eq!(storage.load(&digest).unwrap().certificate, Some(newer));
    }

    fn commit_of(certificate: &Certificate) -> CertifiedCommit {
        match certificate {
            Certificate::Commit(commit) => commit.clone(),
            Certificate::Prepare(_) => unreachable!("a commit certificate"),
        }
    }

    #[test]
    fn damaged_certificate_files_are_an_error_naming_the_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let digest = ConfigDigest([7; 32]);
        let certificate = Certificate::Commit(CertifiedCommit {
            epoch: 1,
            seq_nr: 1,
            outcome: b"o".to_vec(),
            signatures: vec![(0, [1; 64]), (1, [2; 64]), (2, [3; 64])],
        });
        let lock = Certificate::Prepare(CertifiedPrepare {
            epoch: 1,
            seq_nr: 1,
            inputs_digest: [4; 32],
            outcome: b"o".to_vec(),
            signatures: vec![(0, [1; 64]), (1, [2; 64]), (2, [3; 64])],
        });
        {
            // The lock goes to one file and the commit to the other.
            let storage = SledStorage::open(dir.path()).unwrap();
            storage.persist_certificate(&digest, &lock).unwrap();
            storage.persist_certificate(&digest, &certificate).unwrap();
            assert_eq!(storage.load(&digest).unwrap().certificate, Some(certificate));
        }
        for entry in std::fs::read_dir(dir.path().join(CERTIFICATES_DIR)).unwrap() {
            let path = entry.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[30] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
        }
        let storage = SledStorage::open(dir.path()).unwrap();
        let error = storage.load(&digest).unwrap_err().to_string();
        assert!(error.contains("certificate") && error.contains("damaged"), "{error}");
    }

    #[test]
    fn more_instances_than_stay_open_keep_their_own_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let digests: Vec<ConfigDigest> = (0..OPEN_INSTANCES as u8 + 2).map(|i| ConfigDigest([i; 32])).collect();
        let certificate = |digest: &ConfigDigest, seq_nr: u64| {
            Certificate::Commit(CertifiedCommit {
                epoch: 1,
                seq_nr,
                outcome: digest.0[..1].to_vec(),
                signatures: vec![(0, [1; 64]), (1, [2; 64]), (2, [3; 64])],
            })
        };
        {
            let storage = SledStorage::open(dir.path()).unwrap();
            for seq_nr in 1..=3 {
                for digest in &digests {
                    storage.persist_certificate(digest, &certificate(digest, seq_nr)).unwrap();
                }
            }
        }
        let storage = SledStorage::open(dir.path()).unwrap();
        for digest in &digests {
            assert_eq!(storage.load(digest).unwrap().certificate, Some(certificate(digest, 3)));
        }
    }

    #[test]
    fn a_damaged_value_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let digest = ConfigDigest([5; 32]);
        let storage = SledStorage::open(dir.path()).unwrap();
        storage.put(&storage.tree(&digest).unwrap(), CERTIFICATE, vec![0xff, 1, 2], true).unwrap();
        let error = storage.load(&digest).unwrap_err().to_string();
        assert!(error.contains("certificate") && error.contains("unreadable"), "{error}");
    }

    #[test]
    fn a_machine_durable_lock_or_a_write_that_opens_the_files_waits_for_the_device() {
        let lock = Certificate::Prepare(CertifiedPrepare {
            epoch: 1,
            seq_nr: 1,
            inputs_digest: [4; 32],
            outcome: b"o".to_vec(),
            signatures: vec![(0, [1; 64])],
        });
        let commit = Certificate::Commit(CertifiedCommit {
            epoch: 1,
            seq_nr: 1,
            outcome: b"o".to_vec(),
            signatures: vec![(0, [1; 64])],
        });
        let dir = tempfile::tempdir().unwrap();
        let machine = SledStorage::open_with(&dir.path().join("machine"), Durability::Machine).unwrap();
        let process = SledStorage::open_with(&dir.path().join("process"), Durability::Process).unwrap();
        let digest = ConfigDigest([7; 32]);
        // Files not open yet: opening them syncs, whatever is written.
        assert!(process.certificate_write_waits_for_device(&digest, &commit));
        for storage in [&machine, &process] {
            storage.load(&digest).unwrap();
        }
        assert!(machine.certificate_write_waits_for_device(&digest, &lock));
        assert!(!machine.certificate_write_waits_for_device(&digest, &commit));
        assert!(!process.certificate_write_waits_for_device(&digest, &lock));
        assert!(!process.certificate_write_waits_for_device(&digest, &commit));
    }
}
