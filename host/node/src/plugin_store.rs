//! The node's plugin store: components addressed by sha256, kept as
//! `<data_dir>/plugins/<sha256>.wasm` with their compiled artifacts beside
//! them in `<data_dir>/plugin-cache`. A component enters the store only
//! after every check has passed: it is a component of our world at a
//! supported contract version and under the size cap, it compiles, and a
//! smoke instantiation runs its factory without trapping. Nothing that fails
//! a check is kept, and an add (failed or not) never touches a running
//! instance: instances hold their own loaded component.
//!
//! The store also knows which instances use which plugin (a plugin in use
//! cannot be removed) and counts calls, errors and time per method for each.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use ocr_plugin_api::{Method, Plugin, PluginCallError};
use ocr_plugin_host::{CacheOutcome, ComponentInfo, EngineOptions, LoadError, LoadedPlugin, PluginEngine};
use ocr_plugin_sdk::{NoDataSources, PluginConfig};
use serde::Serialize;
use tokio::sync::watch;

/// Why the store refused or could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading or writing the store failed.
    #[error("plugin store {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a usable component: not a component, wrong world or version,
    /// over the size cap, does not compile or link.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The factory trapped (or ran out of fuel or time) in the smoke
    /// instantiation.
    #[error("the factory failed in the smoke instantiation: {0}")]
    FactoryFailed(String),
    /// The factory refused the config of the instance that names the plugin.
    #[error("the factory refused the config of instance {instance}: {reason}")]
    FactoryRefused {
        /// The instance (config digest, hex).
        instance: String,
        /// What the plugin said.
        reason: String,
    },
    /// No plugin with that sha256.
    #[error("no plugin with sha256 {0} in the store")]
    NotFound(String),
    /// The plugin is in use and cannot be removed.
    #[error("plugin {sha256} is in use by instance(s) {}", .instances.join(", "))]
    InUse {
        /// The plugin.
        sha256: String,
        /// The instances using it.
        instances: Vec<String>,
    },
    /// A sha256 that is not 64 hex digits.
    #[error("{0:?} is not a sha256 (64 hex digits)")]
    BadSha256(String),
}

/// What an add did.
#[derive(Clone, Debug, Serialize)]
pub struct AddReport {
    /// The plugin's sha256.
    pub sha256: String,
    /// The name its factory reported in the smoke instantiation.
    pub name: Option<String>,
    /// False when the store already had it (nothing was restarted).
    pub added: bool,
    /// "compiled", "cached" (its compiled artifact was already there) or
    /// "none" (the store had it).
    pub compile: &'static str,
    /// Time from the call to ready, in milliseconds.
    pub ready_ms: f64,
    /// The factory's refusal of a config not meant for it (the plugin was
    /// still added: no instance names it yet).
    pub factory_note: Option<String>,
}

/// Calls, errors and time of one method.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct MethodUsage {
    /// Calls made.
    pub calls: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Time spent in calls, in seconds.
    pub seconds: f64,
}

/// Per-method counters of one plugin, shared with the drivers that call it.
#[derive(Debug, Default)]
pub struct PluginUsage {
    methods: Mutex<BTreeMap<Method, MethodUsage>>,
}

impl PluginUsage {
    /// Counts one call.
    pub fn record(&self, method: Method, elapsed: Duration, failed: bool) {
        let mut methods = self.methods.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let usage = methods.entry(method).or_default();
        usage.calls += 1;
        usage.errors += u64::from(failed);
        usage.seconds += elapsed.as_secs_f64();
    }

    fn snapshot(&self) -> BTreeMap<String, MethodUsage> {
        let methods = self.methods.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        methods.iter().map(|(method, usage)| (method.to_string(), *usage)).collect()
    }
}

/// One plugin as `plugin list` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PluginListing {
    /// Static facts about the component.
    #[serde(flatten)]
    pub component: ComponentInfo,
    /// The name its factory reported, when it has run.
    pub name: Option<String>,
    /// Instances (config digests, hex) running it.
    pub instances: Vec<String>,
    /// Calls, errors and time per method since the node started.
    pub methods: BTreeMap<String, MethodUsage>,
}

struct Entry {
    info: ComponentInfo,
    name: Option<String>,
    loaded: Option<Arc<LoadedPlugin>>,
    usage: Arc<PluginUsage>,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<String, Entry>,
    in_use: BTreeMap<String, BTreeSet<String>>,
    /// The factory config of each instance waiting for or running a plugin,
    /// by the plugin's sha256: the smoke instantiation uses it.
    wanted: HashMap<String, (String, PluginConfig)>,
    /// The factory config of the instance that started last: the base of
    /// the smoke config for a plugin no instance names yet.
    running: Option<PluginConfig>,
}

/// The plugin store of one node.
pub struct PluginStore {
    dir: PathBuf,
    drop_dir: Option<PathBuf>,
    engine: PluginEngine,
    state: Mutex<State>,
    /// Held through every add and remove: one compile at a time, and no
    /// add and remove of one plugin interleaved.
    writes: Mutex<()>,
    changes: watch::Sender<u64>,
}

/// A sha256 as 64 lowercase hex digits, or an error.
pub fn parse_sha256(text: &str) -> Result<String, StoreError> {
    let text = text.trim().trim_start_matches("0x").to_ascii_lowercase();
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(text)
    } else {
        Err(StoreError::BadSha256(text))
    }
}

impl PluginStore {
    /// Opens the store under `data_dir`, indexing what it holds. A file
    /// whose content does not match its name, or that no longer inspects as
    /// a plugin, is left out with a warning. `drop_dir` is the watched
    /// directory, if any: removing a plugin removes its files there too, so
    /// that a restart does not add it again.
    pub fn open(data_dir: &Path, drop_dir: Option<PathBuf>) -> Result<Self, StoreError> {
        let dir = data_dir.join("plugins");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let engine = PluginEngine::new(EngineOptions {
            cache_dir: Some(data_dir.join("plugin-cache")),
            ..EngineOptions::default()
        })?;
        let mut state = State::default();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()).filter(|_| is_wasm(&path)) else { continue };
            let inspected = std::fs::read(&path)
                .map_err(io(&path))
                .and_then(|bytes| Ok(ocr_plugin_host::inspect_component(&bytes, usize::MAX)?));
            match inspected {
                Ok(info) if info.sha256 == stem => {
                    state.entries.insert(info.sha256.clone(), Entry::new(info));
                }
                Ok(info) => {
                    tracing::warn!(file = %path.display(), sha256 = %info.sha256, "plugin file does not match its name; ignored")
                }
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "unusable plugin file in the store; ignored")
                }
            }
        }
        Ok(Self {
            dir,
            drop_dir,
            engine,
            state: Mutex::new(state),
            writes: Mutex::new(()),
            changes: watch::channel(0).0,
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The largest component the store accepts.
    pub fn max_component_bytes(&self) -> usize {
        self.engine.limits().max_component_bytes
    }

    /// Bumps on every change of the store's contents.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Whether the store holds `sha256`.
    pub fn contains(&self, sha256: &str) -> bool {
        self.state().entries.contains_key(sha256)
    }

    /// Checks `bytes` and adds them. The smoke instantiation runs the
    /// factory with the config of the instance that names the plugin, if one
    /// does (a refusal then refuses the component); else with the running
    /// instance's config, its plugin config replaced by `offchain_config`
    /// when the operator gives one (a refusal of a config not meant for the
    /// plugin is only a note). A trap, in either case, refuses it.
    /// Re-adding what the store has is a no-op.
    pub fn add(&self, bytes: &[u8], offchain_config: Option<Vec<u8>>) -> Result<AddReport, StoreError> {
        let started = Instant::now();
        let sha256 = ocr_plugin_host::sha256_hex(bytes);
        let _writing = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.contains(&sha256) {
            let name = self.state().entries.get(&sha256).and_then(|e| e.name.clone());
            let ready_ms = started.elapsed().as_secs_f64() * 1e3;
            return Ok(AddReport { sha256, name, added: false, compile: "none", ready_ms, factory_note: None });
        }
        let result = self.check_and_store(bytes, &sha256, offchain_config);
        if result.is_err()
            && let Some(cache) = self.engine.cache()
        {
            // Nothing of a refused component stays, its artifact included.
            let _ = cache.remove(&sha256);
        }
        let (name, compile, factory_note) = result?;
        self.changes.send_modify(|n| *n += 1);
        tracing::info!(plugin = name.as_deref().unwrap_or("?"), %sha256, compile, "plugin added");
        let ready_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(AddReport { sha256, name, added: true, compile, ready_ms, factory_note })
    }

    /// The checks of [`PluginStore::add`], then the write: the name, how it
    /// was compiled, and the factory's note.
    fn check_and_store(
        &self,
        bytes: &[u8],
        sha256: &str,
        offchain_config: Option<Vec<u8>>,
    ) -> Result<(Option<String>, &'static str, Option<String>), StoreError> {
        let loaded = self.engine.load(bytes)?;
        let (config, binding) = {
            let state = self.state();
            match state.wanted.get(sha256) {
                Some((instance, config)) => (config.clone(), Some(instance.clone())),
                None => {
                    let mut config = state.running.clone().unwrap_or_else(|| PluginConfig::for_tests(4, 1, Vec::new()));
                    if let Some(offchain) = offchain_config {
                        config.offchain_config = offchain;
                    }
                    (config, None)
                }
            }
        };
        let (name, factory_note) = match loaded.instantiate(&config, Arc::new(NoDataSources)) {
            Ok(mut plugin) => {
                let name = plugin.info().name.clone();
                let _ = plugin.close();
                (Some(name), None)
            }
            Err(PluginCallError::Guest { error, .. }) => match binding {
                Some(instance) => return Err(StoreError::FactoryRefused { instance, reason: error.to_string() }),
                None => (None, Some(format!("the factory declined the smoke config: {error}"))),
            },
            Err(other) => return Err(StoreError::FactoryFailed(other.to_string())),
        };
        let path = self.dir.join(format!("{sha256}.wasm"));
        write_atomically(&path, bytes).map_err(|source| StoreError::Io { path, source })?;
        let compile = compile_label(loaded.cache_outcome());
        let mut entry = Entry::new(loaded.component_info().clone());
        entry.name.clone_from(&name);
        entry.loaded = Some(loaded);
        self.state().entries.insert(sha256.to_owned(), entry);
        Ok((name, compile, factory_note))
    }

    /// The loaded component `sha256` (from the compiled-artifact cache when
    /// it is there) and its usage counters, marked as used by `instance`
    /// until [`PluginStore::release`]: from here on it cannot be removed.
    pub fn checkout(&self, sha256: &str, instance: &str) -> Result<(Arc<LoadedPlugin>, Arc<PluginUsage>), StoreError> {
        let cached = self.state().entries.get(sha256).map(|entry| entry.loaded.clone());
        let loaded = match cached {
            None => return Err(StoreError::NotFound(sha256.to_owned())),
            Some(Some(loaded)) => loaded,
            Some(None) => {
                let loaded = self.engine.load_file(&self.dir.join(format!("{sha256}.wasm")))?;
                tracing::info!(
                    %sha256,
                    compile = compile_label(loaded.cache_outcome()),
                    load_ms = loaded.load_time().as_secs_f64() * 1e3,
                    "plugin loaded from the store"
                );
                loaded
            }
        };
        // A remove may have run meanwhile: only an entry still present is
        // checked out.
        let mut state = self.state();
        let entry = state.entries.get_mut(sha256).ok_or_else(|| StoreError::NotFound(sha256.to_owned()))?;
        entry.loaded = Some(loaded.clone());
        let usage = entry.usage.clone();
        state.in_use.entry(sha256.to_owned()).or_default().insert(instance.to_owned());
        Ok((loaded, usage))
    }

    /// Records that `instance` wants plugin `sha256` with factory config
    /// `config` (a later add smoke-tests with it).
    pub fn want(&self, sha256: &str, instance: &str, config: PluginConfig) {
        self.state().wanted.insert(sha256.to_owned(), (instance.to_owned(), config));
    }

    /// Records what the instance that checked out `sha256` learned from its
    /// factory: the plugin's name, and its config (the base of later smoke
    /// configs).
    pub fn running(&self, sha256: &str, name: &str, config: &PluginConfig) {
        let mut state = self.state();
        state.running = Some(config.clone());
        if let Some(entry) = state.entries.get_mut(sha256) {
            entry.name = Some(name.to_owned());
        }
    }

    /// Ends a use begun by [`PluginStore::checkout`] (and a want).
    pub fn release(&self, sha256: &str, instance: &str) {
        let mut state = self.state();
        if let Some(users) = state.in_use.get_mut(sha256) {
            users.remove(instance);
            if users.is_empty() {
                state.in_use.remove(sha256);
            }
        }
        state.wanted.retain(|_, (wanting, _)| wanting != instance);
    }

    /// Removes `sha256` and its compiled artifacts (and its copies in the
    /// watched directory), unless an instance uses it.
    pub fn remove(&self, sha256: &str) -> Result<(), StoreError> {
        let _writing = self.writes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Out of the index first, so no instance can check it out while
        // its files go; back in if they cannot be deleted.
        let entry = {
            let mut state = self.state();
            if let Some(users) = state.in_use.get(sha256) {
                return Err(StoreError::InUse {
                    sha256: sha256.to_owned(),
                    instances: users.iter().cloned().collect(),
                });
            }
            state.entries.remove(sha256).ok_or_else(|| StoreError::NotFound(sha256.to_owned()))?
        };
        if let Err(error) = self.delete_files(sha256) {
            self.state().entries.insert(sha256.to_owned(), entry);
            return Err(error);
        }
        self.changes.send_modify(|n| *n += 1);
        tracing::info!(%sha256, "plugin removed");
        Ok(())
    }

    fn delete_files(&self, sha256: &str) -> Result<(), StoreError> {
        if let Some(Ok(entries)) = self.drop_dir.as_ref().map(std::fs::read_dir) {
            for path in entries.flatten().map(|e| e.path()).filter(|p| is_wasm(p)) {
                if std::fs::read(&path).is_ok_and(|bytes| ocr_plugin_host::sha256_hex(&bytes) == sha256) {
                    std::fs::remove_file(&path).map_err(|source| StoreError::Io { path, source })?;
                }
            }
        }
        if let Some(cache) = self.engine.cache() {
            cache.remove(sha256)?;
        }
        let path = self.dir.join(format!("{sha256}.wasm"));
        std::fs::remove_file(&path).map_err(|source| StoreError::Io { path, source })
    }

    /// Every plugin in the store, with its users and counters.
    pub fn list(&self) -> Vec<PluginListing> {
        let state = self.state();
        state
            .entries
            .iter()
            .map(|(sha256, entry)| PluginListing {
                component: entry.info.clone(),
                name: entry.name.clone(),
                instances: state.in_use.get(sha256).map(|users| users.iter().cloned().collect()).unwrap_or_default(),
                methods: entry.usage.snapshot(),
            })
            .collect()
    }
}

impl Entry {
    fn new(info: ComponentInfo) -> Self {
        Self { info, name: None, loaded: None, usage: Arc::default() }
    }
}

fn compile_label(outcome: CacheOutcome) -> &'static str {
    match outcome {
        CacheOutcome::Hit => "cached",
        CacheOutcome::Miss | CacheOutcome::Disabled => "compiled",
    }
}

fn is_wasm(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "wasm")
}

/// Writes `path` so that it is whole or absent after a crash. Adds are
/// serialised (`writes`), so one temporary name per process is enough.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// The watched drop directory: `.wasm` files that appear or change in it
/// are added to the store. A file that fails a check is reported once per
/// version of it (size and modification time), not on every scan.
pub struct DropDirectory {
    dir: PathBuf,
    seen: HashMap<PathBuf, (u64, SystemTime)>,
}

/// What one scan found.
#[derive(Debug)]
pub struct DropResult {
    /// The file.
    pub file: PathBuf,
    /// What adding it did.
    pub result: Result<AddReport, StoreError>,
}

impl DropDirectory {
    /// Watches `dir` (which need not exist yet).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, seen: HashMap::new() }
    }

    /// Adds every new or changed `.wasm` file to `store`.
    pub fn scan(&mut self, store: &PluginStore) -> Vec<DropResult> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut results = Vec::new();
        let mut present = std::collections::HashSet::new();
        for entry in entries.flatten() {
            let path = entry.path();
            present.insert(path.clone());
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() || !is_wasm(&path) {
                continue;
            }
            let version = (meta.len(), meta.modified().unwrap_or(SystemTime::UNIX_EPOCH));
            if self.seen.get(&path) == Some(&version) {
                continue;
            }
            self.seen.insert(path.clone(), version);
            let result = if usize::try_from(meta.len()).map_or(true, |len| len > store.max_component_bytes()) {
                Err(StoreError::Load(LoadError::TooLarge {
                    size: usize::try_from(meta.len()).unwrap_or(usize::MAX),
                    limit: store.max_component_bytes(),
                }))
            } else {
                std::fs::read(&path)
                    .map_err(|source| StoreError::Io { path: path.clone(), source })
                    .and_then(|bytes| store.add(&bytes, None))
            };
            results.push(DropResult { file: path, result });
        }
        self.seen.retain(|path, _| present.contains(path));
        results
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_sha256_is_64_hex_digits() {
        let sha = "AB".repeat(32);
        assert_eq!(parse_sha256(&format!("0x{sha}")).unwrap(), sha.to_ascii_lowercase());
        assert!(matches!(parse_sha256("abc"), Err(StoreError::BadSha256(_))));
        assert!(matches!(parse_sha256(&"zz".repeat(32)), Err(StoreError::BadSha256(_))));
    }

    #[test]
    fn the_watched_directory_reports_each_version_of_a_file_once_and_refuses_without_storing() {
        let data = tempfile::tempdir().unwrap();
        let drops = tempfile::tempdir().unwrap();
        let store = PluginStore::open(data.path(), Some(drops.path().to_owned())).unwrap();
        let mut watched = DropDirectory::new(drops.path().to_owned());
        std::fs::write(drops.path().join("notes.txt"), b"ignored: not .wasm").unwrap();
        std::fs::write(drops.path().join("broken.wasm"), b"not a component").unwrap();
        // Over the cap: refused from its size, without reading it.
        let big = std::fs::File::create(drops.path().join("big.wasm")).unwrap();
        big.set_len(store.max_component_bytes() as u64 + 1).unwrap();

        let mut first = watched.scan(&store);
        first.sort_by(|a, b| a.file.cmp(&b.file));
        let errors: Vec<String> = first.iter().map(|r| r.result.as_ref().unwrap_err().to_string()).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("over the"), "{}", errors[0]);
        assert!(errors[1].contains("not a WebAssembly component"), "{}", errors[1]);
        assert!(watched.scan(&store).is_empty(), "an unchanged file is not reported again");

        std::fs::write(drops.path().join("broken.wasm"), b"still not a component").unwrap();
        assert_eq!(watched.scan(&store).len(), 1, "a changed file is looked at again");
        assert!(store.list().is_empty(), "nothing refused is stored");
        assert_eq!(std::fs::read_dir(data.path().join("plugins")).unwrap().count(), 0);
        assert!(matches!(store.checkout(&"00".repeat(32), "instance"), Err(StoreError::NotFound(_))));
        assert!(matches!(store.remove(&"00".repeat(32)), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn a_file_that_does_not_match_its_name_is_left_out_when_the_store_opens() {
        let data = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(data.path().join("plugins")).unwrap();
        std::fs::write(data.path().join("plugins").join(format!("{}.wasm", "ab".repeat(32))), b"junk").unwrap();
        let store = PluginStore::open(data.path(), None).unwrap();
        assert!(store.list().is_empty());
    }
}
