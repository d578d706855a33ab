//! The plugin engine: one wasmtime `Engine` per process with the sandbox
//! settings (fuel, epoch interruption, NaN canonicalisation, deterministic
//! relaxed SIMD, no threads), the linker with exactly the imports a plugin may
//! use, the epoch ticker (one thread per tick length per process) and the
//! compiled-artifact cache. Loading a component goes through static
//! inspection, compilation (or the cache) and pre-instantiation; anything
//! wrong is a [`LoadError`] and nothing is kept.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::Linker;
use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use crate::bindings::ReportingPluginWorldPre;
use crate::cache::{ArtifactCache, CacheOutcome, compile};
use crate::component::{ComponentInfo, inspect_component};
use crate::error::LoadError;
use crate::sandbox::SandboxLimits;
use crate::state::StoreState;

/// How a [`PluginEngine`] is built.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Limits for every call.
    pub limits: SandboxLimits,
    /// Where compiled artifacts are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Resolution of wall-clock deadlines.
    pub epoch_tick: Duration,
    /// Pre-allocate slots for this many concurrent instances (the pooling
    /// allocator); `None` allocates on demand. Pooling halves instantiation
    /// time but reserves address space per slot.
    pub pooling_instances: Option<u32>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            limits: SandboxLimits::default(),
            cache_dir: None,
            epoch_tick: Duration::from_millis(2),
            pooling_instances: None,
        }
    }
}

pub(crate) struct EngineInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreState>,
    pub(crate) limits: SandboxLimits,
    pub(crate) epoch_tick: Duration,
    cache: Option<ArtifactCache>,
    compat: String,
}

/// A shareable handle to the engine (cheap to clone).
#[derive(Clone)]
pub struct PluginEngine {
    pub(crate) inner: Arc<EngineInner>,
}

/// A component that passed every check, compiled and ready to instantiate.
pub struct LoadedPlugin {
    pub(crate) engine: PluginEngine,
    pub(crate) pre: ReportingPluginWorldPre<StoreState>,
    info: ComponentInfo,
    cache: CacheOutcome,
    load_time: Duration,
}

impl LoadedPlugin {
    /// Static facts: sha256, size, world, imports, exports.
    pub fn component_info(&self) -> &ComponentInfo {
        &self.info
    }

    /// Whether the compiled code came from the cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }

    /// Time spent loading (inspection, compilation or cache, linking).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }
}

impl PluginEngine {
    /// Builds the engine, its linker and its epoch ticker.
    pub fn new(options: EngineOptions) -> Result<Self, LoadError> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .cranelift_opt_level(OptLevel::Speed)
            .max_wasm_stack(512 << 10);
        if let Some(slots) = options.pooling_instances {
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(slots)
                .total_core_instances(slots * 4)
                .total_memories(slots * 4)
                .total_tables(slots * 4)
                .max_memory_size(options.limits.max_memory_bytes);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        crate::wasi::add_to_linker(&mut linker).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        crate::state::add_imports_to_linker(&mut linker).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let cache = options.cache_dir.map(ArtifactCache::new).transpose()?;
        let compat = compatibility_key(&engine);
        spawn_ticker(&engine, options.epoch_tick)
            .map_err(|e| LoadError::Engine(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Self {
            inner: Arc::new(EngineInner {
                engine,
                linker,
                limits: options.limits,
                epoch_tick: options.epoch_tick,
                cache,
                compat,
            }),
        })
    }

    /// The sandbox limits.
    pub fn limits(&self) -> &SandboxLimits {
        &self.inner.limits
    }

    /// The key that decides whether a compiled artifact fits this engine.
    pub fn compatibility_key(&self) -> &str {
        &self.inner.compat
    }

    /// The artifact cache, if any.
    pub fn cache(&self) -> Option<&ArtifactCache> {
        self.inner.cache.as_ref()
    }

    /// Reads and loads a component file.
    pub fn load_file(&self, path: &Path) -> Result<Arc<LoadedPlugin>, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: path.to_owned(), source })?;
        self.load(&bytes)
    }

    /// Inspects, compiles (or loads from the cache) and links a component.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<LoadedPlugin>, LoadError> {
        let started = Instant::now();
        let info = inspect_component(bytes, self.inner.limits.max_component_bytes)?;
        let (component, cache) = match &self.inner.cache {
            Some(cache) => cache.load_or_compile(&self.inner.engine, &self.inner.compat, &info.sha256, bytes)?,
            None => (compile(&self.inner.engine, bytes)?, CacheOutcome::Disabled),
        };
        let instance_pre =
            self.inner.linker.instantiate_pre(&component).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let pre = ReportingPluginWorldPre::new(instance_pre).map_err(|e| LoadError::Link(format!("{e:#}")))?;
        Ok(Arc::new(LoadedPlugin { engine: self.clone(), pre, info, cache, load_time: started.elapsed() }))
    }

    /// Deadline ticks for `duration`, rounded up, plus one for the tick in
    /// progress.
    pub(crate) fn ticks(&self, duration: Duration) -> u64 {
        let tick = self.inner.epoch_tick.as_nanos().max(1);
        u64::try_from(duration.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX / 2) + 1
    }
}

fn compatibility_key(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("wasmtime48-{:016x}", hasher.finish())
}

/// Engines advanced by one ticker thread, and the ticker threads by tick
/// length. A process holds one engine per node, and a thread per engine
/// woke every tick whether or not anything ran: 31 nodes in one process
/// made 15 000 wakeups a second that preempted the nodes' own threads.
type Tickers = std::collections::HashMap<Duration, Arc<Mutex<Vec<EngineWeak>>>>;

fn tickers() -> &'static Mutex<Tickers> {
    static TICKERS: OnceLock<Mutex<Tickers>> = OnceLock::new();
    TICKERS.get_or_init(Default::default)
}

/// Advances `engine`'s epoch every `tick` until it is dropped, on the
/// process's ticker thread for that tick (started here if there is none).
fn spawn_ticker(engine: &Engine, tick: Duration) -> std::io::Result<()> {
    // Lock order, here and in the ticker: the registry, then one ticker's list.
    let mut registry = tickers().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(engines) = registry.get(&tick) {
        engines.lock().unwrap_or_else(PoisonError::into_inner).push(engine.weak());
        return Ok(());
    }
    let engines = Arc::new(Mutex::new(vec![engine.weak()]));
    let ticking = engines.clone();
    std::thread::Builder::new().name("plugin-epoch".into()).spawn(move || {
        loop {
            std::thread::sleep(tick);
            if !advance(&ticking) {
                // Every engine is gone: retire, unless one registered since.
                let mut registry = tickers().lock().unwrap_or_else(PoisonError::into_inner);
                if ticking.lock().unwrap_or_else(PoisonError::into_inner).is_empty() {
                    registry.remove(&tick);
                    return;
                }
            }
        }
    })?;
    registry.insert(tick, engines);
    Ok(())
}

/// Advances the epoch of every live engine in `engines` and forgets the
/// dropped ones; false when none is left.
fn advance(engines: &Mutex<Vec<EngineWeak>>) -> bool {
    let mut engines = engines.lock().unwrap_or_else(PoisonError::into_inner);
    engines.retain(|weak| weak.upgrade().map(|engine| engine.increment_epoch()).is_some());
    !engines.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engines_on(tick: Duration) -> Option<usize> {
        let registry = tickers().lock().unwrap_or_else(PoisonError::into_inner);
        registry.get(&tick).map(|engines| engines.lock().unwrap_or_else(PoisonError::into_inner).len())
    }

    #[test]
    fn engines_with_one_tick_share_a_ticker_that_retires_with_them() {
        // A tick no other test uses, so the registry entry is this test's.
        let tick = Duration::from_micros(2_345);
        let options = EngineOptions { epoch_tick: tick, ..EngineOptions::default() };
        let first = PluginEngine::new(options.clone()).unwrap();
        let second = PluginEngine::new(options).unwrap();
        assert_eq!(engines_on(tick), Some(2));
        drop((first, second));
        let deadline = Instant::now() + Duration::from_secs(10);
        while engines_on(tick).is_some() {
            assert!(Instant::now() < deadline, "the ticker kept running without engines");
            std::thread::sleep(tick);
        }
        // A later engine gets a ticker again.
        let third = PluginEngine::new(EngineOptions { epoch_tick: tick, ..EngineOptions::default() }).unwrap();
        assert_eq!(engines_on(tick), Some(1));
        drop(third);
    }
}
