//! Keeps a long-lived cargo target directory from filling the disk.
//!
//! CI and developers share one target directory outside the clone (so runs
//! are incremental), and every change to a crate's dependencies, features or
//! flags leaves a new copy of each test executable (tens of MB) behind
//! while the old ones stay: a working copy grew 40 GB of them in a week,
//! the disk filled, and the linker died with a bus error mid-run. After a
//! build, [`sweep`] deletes the executables and rlibs that the build did
//! not produce or reuse.
//!
//! Only files that are certainly stale go: a file is deleted when cargo
//! did not name it (or a hard link to it) among this build's artifacts, a
//! newer file of the same crate and kind sits beside it, and nothing has
//! read it for [`UNUSED_FOR`] (other commands, `cargo xtask` itself or a
//! developer's `cargo build -p`, build the same crates with other features
//! and keep using their copies). The newest copy of each always stays, so
//! a miss here costs at most one rebuild, never a broken build.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

/// How long a copy must have gone unread before it may go. Access times
/// are kept at day precision (`relatime`), so this is days, not hours.
pub const UNUSED_FOR: Duration = Duration::from_secs(3 * 24 * 3600);

/// Runs a cargo build command with JSON messages (diagnostics still go to
/// the terminal, rendered) and returns every file its artifacts name,
/// whether built now or already fresh.
pub fn build_listing_artifacts(cmd: &mut Command) -> Result<HashSet<PathBuf>> {
    cmd.arg("--message-format=json-render-diagnostics").stdout(Stdio::piped());
    eprintln!("xtask: running {cmd:?}");
    let mut child = cmd.spawn().with_context(|| format!("cannot start {cmd:?}"))?;
    let stdout = child.stdout.take().context("cargo's stdout was not piped")?;
    let mut artifacts = HashSet::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's messages")?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let files =
            message["filenames"].as_array().into_iter().flatten().chain(std::iter::once(&message["executable"]));
        artifacts.extend(files.filter_map(|f| f.as_str()).map(PathBuf::from));
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(artifacts)
}

/// What a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub files: usize,
    pub bytes: u64,
}

/// Deletes stale executables and rlibs in `dirs` (see the module docs);
/// `current` is what the last build named. Holds cargo's own lock on
/// `lock_dir` (the profile's directory) meanwhile, so a build that started
/// elsewhere on the same target directory cannot lose a file it already
/// judged fresh; if a build holds it, nothing is swept this time.
pub fn sweep(lock_dir: &Path, dirs: &[PathBuf], current: &HashSet<PathBuf>) -> Result<Swept> {
    let lock = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_dir.join(".cargo-lock"))
        .with_context(|| format!("cannot open cargo's lock in {}", lock_dir.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => bail!("another cargo build holds {}", lock_dir.display()),
        Err(std::fs::TryLockError::Error(e)) => return Err(e).context("cannot lock the target directory"),
    }
    let unused_since = SystemTime::now() - UNUSED_FOR;
    let current_inodes: HashSet<(u64, u64)> =
        current.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| (m.dev(), m.ino())).collect();
    let mut swept = Swept::default();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut candidates: Vec<Candidate> = Vec::new();
        for entry in entries {
            // A file gone since the listing is simply not a candidate.
            let Ok(entry) = entry else { continue };
            let Ok(metadata) = entry.metadata() else { continue };
            if !metadata.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(kind) = artifact_kind(&name, metadata.mode()) else { continue };
            let (Ok(modified), Ok(accessed)) = (metadata.modified(), metadata.accessed()) else { continue };
            candidates.push(Candidate {
                path: entry.path(),
                kind,
                modified,
                unused: accessed < unused_since,
                size: metadata.len(),
                current: current_inodes.contains(&(metadata.dev(), metadata.ino())),
            });
        }
        let mut newest: HashMap<&ArtifactKind, SystemTime> = HashMap::new();
        for c in &candidates {
            let entry = newest.entry(&c.kind).or_insert(c.modified);
            *entry = (*entry).max(c.modified);
        }
        for c in &candidates {
            if c.current || !c.unused || newest.get(&c.kind).is_none_or(|n| c.modified >= *n) {
                continue;
            }
            match std::fs::remove_file(&c.path) {
                Ok(()) => {
                    swept.files += 1;
                    swept.bytes += c.size;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot delete {}", c.path.display())),
            }
        }
    }
    Ok(swept)
}

struct Candidate {
    path: PathBuf,
    kind: ArtifactKind,
    modified: SystemTime,
    /// Not read for [`UNUSED_FOR`].
    unused: bool,
    size: u64,
    current: bool,
}

/// A crate's artifact of one kind, whatever its hash: files that share one
/// are copies of each other from different builds.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ArtifactKind {
    stem: String,
    extension: &'static str,
}

/// `name-0123456789abcdef` (an executable) or `libname-0123456789abcdef.rlib`;
/// anything else (build outputs, `.d` files, proc-macro `.so`s) is not ours
/// to judge.
fn artifact_kind(file_name: &str, mode: u32) -> Option<ArtifactKind> {
    let (base, extension) = match file_name.strip_suffix(".rlib") {
        Some(base) => (base, "rlib"),
        None if !file_name.contains('.') && mode & 0o111 != 0 => (file_name, ""),
        None => return None,
    };
    let (stem, hash) = base.rsplit_once('-')?;
    let is_hash = hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hash && !stem.is_empty()).then(|| ArtifactKind { stem: stem.to_owned(), extension })
}

/// Free space on the filesystem holding `path`, in bytes, if `df` can tell.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(path).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let available_kib: u64 = text.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()?;
    Some(available_kib * 1024)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_hashed_executables_and_rlibs_are_artifacts() {
        let exe = 0o755;
        assert_eq!(
            artifact_kind("ocr_node-96ef743f659eb8fb", exe),
            Some(ArtifactKind { stem: "ocr_node".into(), extension: "" })
        );
        assert_eq!(
            artifact_kind("libocr_core-0123456789abcdef.rlib", 0o644),
            Some(ArtifactKind { stem: "libocr_core".into(), extension: "rlib" })
        );
        assert_eq!(artifact_kind("ocr_node-96ef743f659eb8fb", 0o644), None, "not executable");
        assert_eq!(artifact_kind("ocr_node-96ef743f659eb8fb.d", exe), None);
        assert_eq!(artifact_kind("libfoo-0123456789abcdef.so", exe), None);
        assert_eq!(artifact_kind("ocr-node", exe), None, "an uplifted binary has no hash");
        assert_eq!(artifact_kind("bench-4cb67d604fc616dz", exe), None);
    }

    #[test]
    fn sweep_keeps_current_newest_and_recently_read_copies() {
        let dir = std::env::temp_dir().join(format!("xtask-sweep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let days = |d: u64| SystemTime::now() - Duration::from_secs(d * 24 * 3600);
        let write = |name: &str, modified_days_ago: u64, read_days_ago: u64, mode: u32| {
            let path = dir.join(name);
            std::fs::write(&path, vec![0u8; 100]).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            let times =
                std::fs::FileTimes::new().set_modified(days(modified_days_ago)).set_accessed(days(read_days_ago));
            file.set_times(times).unwrap();
            path
        };
        let oldest = write("bench-0000000000000001", 30, 20, 0o755);
        let oldest_but_read = write("bench-0000000000000004", 30, 1, 0o755);
        let current_old = write("bench-0000000000000002", 20, 20, 0o755);
        let newest = write("bench-0000000000000003", 10, 10, 0o755);
        let old_rlib = write("libx-0000000000000001.rlib", 30, 30, 0o644);
        let new_rlib = write("libx-0000000000000002.rlib", 10, 10, 0o644);
        let lone = write("other-0000000000000001", 90, 90, 0o755);
        let dep_file = write("bench-0000000000000001.d", 90, 90, 0o644);
        // An uplifted hard link names its hashed twin as current.
        let uplifted = dir.join("bench");
        std::fs::hard_link(&current_old, &uplifted).unwrap();

        let current: HashSet<PathBuf> = [uplifted.clone()].into();
        let swept = sweep(&dir, std::slice::from_ref(&dir), &current).unwrap();

        // While a build holds cargo's lock, nothing goes.
        let held = std::fs::File::open(dir.join(".cargo-lock")).unwrap();
        held.lock().unwrap();
        assert!(sweep(&dir, std::slice::from_ref(&dir), &current).is_err());
        held.unlock().unwrap();

        assert_eq!(swept, Swept { files: 2, bytes: 200 });
        for gone in [&oldest, &old_rlib] {
            assert!(!gone.exists(), "{} should be swept", gone.display());
        }
        for kept in [&oldest_but_read, &current_old, &newest, &new_rlib, &lone, &dep_file, &uplifted] {
            assert!(kept.exists(), "{} should stay", kept.display());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn free_bytes_reads_df() {
        assert!(free_bytes(&std::env::temp_dir()).is_some());
    }
}
