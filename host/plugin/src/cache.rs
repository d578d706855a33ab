//! The on-disk cache of compiled components. An artifact is keyed by the
//! component's sha256 and the engine's compatibility key (wasmtime version and
//! every setting that affects code generation), written atomically, and
//! checked against a sidecar checksum before it is loaded: a torn or corrupt
//! file is recompiled, never executed.
//!
//! Artifacts are native code that wasmtime loads without validation, so the
//! cache directory must be writable only by the node's operator.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::LoadError;

/// A directory of compiled artifacts.
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    dir: PathBuf,
}

/// Whether a load came from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a compiled artifact.
    Hit,
    /// Compiled and stored.
    Miss,
    /// Compiled; no cache configured.
    Disabled,
}

impl ArtifactCache {
    /// A cache in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, LoadError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| LoadError::Cache(format!("create {}: {e}", dir.display())))?;
        Ok(Self { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn paths(&self, sha256: &str, compat: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{sha256}-{compat}");
        (self.dir.join(format!("{stem}.cwasm")), self.dir.join(format!("{stem}.cwasm.sha256")))
    }

    /// Loads the compiled artifact for `wasm`, compiling and storing it on a
    /// miss.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        compat: &str,
        sha256: &str,
        wasm: &[u8],
    ) -> Result<(Component, CacheOutcome), LoadError> {
        let (artifact, checksum) = self.paths(sha256, compat);
        if let (Ok(bytes), Ok(expected)) = (fs::read(&artifact), fs::read_to_string(&checksum))
            && hex::encode(Sha256::digest(&bytes)) == expected.trim()
        {
            // SAFETY: the bytes were produced by `Component::serialize` on an
            // engine with the same compatibility key, written by this node
            // into its own cache directory, and match the checksum recorded
            // when they were written.
            #[allow(unsafe_code)]
            let loaded = unsafe { Component::deserialize(engine, &bytes) };
            if let Ok(component) = loaded {
                return Ok((component, CacheOutcome::Hit));
            }
        }
        let component = compile(engine, wasm)?;
        let bytes = component.serialize().map_err(|e| LoadError::Cache(format!("serialize: {e}")))?;
        write_atomically(&artifact, &bytes)?;
        write_atomically(&checksum, hex::encode(Sha256::digest(&bytes)).as_bytes())?;
        Ok((component, CacheOutcome::Miss))
    }

    /// Removes the artifacts of a component (all engine versions).
    pub fn remove(&self, sha256: &str) -> Result<(), LoadError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| LoadError::Cache(e.to_string()))?;
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(sha256) {
                fs::remove_file(entry.path()).map_err(|e| LoadError::Cache(e.to_string()))?;
            }
        }
        Ok(())
    }
}

pub(crate) fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, LoadError> {
    Component::new(engine, wasm).map_err(|e| LoadError::Compile(format!("{e:#}")))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    fs::write(&tmp, bytes)
        .and_then(|_| fs::rename(&tmp, path))
        .map_err(|e| LoadError::Cache(format!("write {}: {e}", path.display())))
}
