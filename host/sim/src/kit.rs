//! The plugin test kit: a plugin (native, or a built component behind the
//! same factory) in a simulated network of n oracles on the deterministic
//! simulator, with data sources scripted per oracle, faults from the
//! simulator's classes, and the run's committed outcomes and attested
//! reports to assert on. Deterministic calls are compared across honest
//! oracles, so a non-deterministic plugin is reported as the oracles that
//! diverged, the seq-nr and the method, not as a stall.
//!
//! ```ignore
//! use ocr_sim::kit::{native, TestKit};
//! let report = TestKit::new(config, native::<MyPlugin>(), script).faults(FaultClass::Crash).seed(7).run();
//! report.check()?; // no safety violation, no divergence, outcomes committed
//! ```
//!
//! [`native`] makes the factory of a native plugin type; with the `wasm`
//! feature, [`component`] loads a built `.wasm` through the real host
//! (fuel, frozen clocks, limits), and [`mixed`] gives each oracle one of
//! several factories, so two implementations of one plugin (say, in two
//! languages) can be checked against each other in one network.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ocr_plugin_api::{NativePlugin, Plugin};
use ocr_plugin_sdk::{DataSourceError, DataSources, ReportingPlugin};

use crate::faults::FaultClass;
use crate::network::NetworkModel;
use crate::sources::VirtualClock;
use crate::world::{Divergence, Outcome, PluginFactory, PluginSpec, Scenario, Simulation};

const MS: u64 = 1_000_000;

/// A data source script: the value of source `name` that `oracle` reads at
/// virtual time `at` (since the start), or `None` when it has no such
/// source or it is down.
pub type Script = Arc<dyn Fn(u8, Duration, &str) -> Option<String> + Send + Sync>;

/// One oracle's sources, read from a script.
pub struct ScriptedSources {
    script: Script,
    clock: VirtualClock,
    oracle: u8,
}

impl DataSources for ScriptedSources {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        (self.script)(self.oracle, Duration::from_nanos(self.clock.nanos()), name)
            .ok_or_else(|| DataSourceError::Unknown(name.into()))
    }

    fn now(&self) -> SystemTime {
        self.clock.system_time()
    }
}

/// The factory of the native plugin type `P`.
pub fn native<P: ReportingPlugin>() -> PluginFactory {
    Arc::new(|config, sources| {
        NativePlugin::<P>::create(config, sources)
            .map(|plugin| Box::new(plugin) as Box<dyn Plugin + Send>)
            .map_err(|e| e.to_string())
    })
}

/// The factory of a built component, run through the real wasm host with
/// its default sandbox limits. Compiles it once, here.
#[cfg(feature = "wasm")]
pub fn component(path: &std::path::Path) -> Result<PluginFactory, String> {
    let engine = ocr_plugin_host::PluginEngine::new(ocr_plugin_host::EngineOptions::default())
        .map_err(|e| format!("the wasm engine: {e}"))?;
    let loaded = engine.load_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Arc::new(move |config, sources| {
        loaded.instantiate(config, sources).map(|p| Box::new(p) as Box<dyn Plugin + Send>).map_err(|e| e.to_string())
    }))
}

/// Oracle `i` gets its instances from `factories[i % len]`. An empty list
/// makes a factory that always fails.
pub fn mixed(factories: Vec<PluginFactory>) -> PluginFactory {
    Arc::new(move |config, sources| match factories.len() {
        0 => Err("mixed: no factories".into()),
        len => (factories[usize::from(config.oracle_id) % len])(config, sources),
    })
}

/// A simulated network running one plugin.
pub struct TestKit {
    spec: PluginSpec,
    n: u8,
    seed: u64,
    duration: Duration,
    faults: Option<FaultClass>,
}

/// What a run produced.
#[derive(Debug)]
pub struct KitReport {
    /// The simulator's outcome: committed outcomes, attested reports,
    /// safety violations, divergences, trace hash.
    pub outcome: Outcome,
    /// The seed, to replay the run.
    pub seed: u64,
}

impl TestKit {
    /// Four oracles, seed 1, 20 simulated seconds, no faults, running the
    /// plugin `factory` makes with `offchain_config`, over `script`.
    pub fn new(offchain_config: &[u8], factory: PluginFactory, script: Script) -> Self {
        let spec = PluginSpec {
            offchain_config: offchain_config.to_vec(),
            factory,
            sources: Arc::new(move |clock, oracle| {
                Arc::new(ScriptedSources { script: script.clone(), clock, oracle })
                    as Arc<dyn DataSources + Send + Sync>
            }),
            check_determinism: true,
        };
        Self { spec, n: 4, seed: 1, duration: Duration::from_secs(20), faults: None }
    }

    /// The number of oracles (f is the largest with 3f < n).
    pub fn nodes(mut self, n: u8) -> Self {
        self.n = n;
        self
    }

    /// The seed of the run.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Simulated time without faults (with faults, the class decides).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Faults of one of the simulator's classes.
    pub fn faults(mut self, class: FaultClass) -> Self {
        self.faults = Some(class);
        self
    }

    /// Runs the network.
    pub fn run(&self) -> KitReport {
        let scenario = match self.faults {
            Some(class) => class.scenario(self.n, self.seed),
            None => Scenario {
                n: self.n,
                f: (self.n - 1) / 3,
                seed: self.seed,
                duration: u64::try_from(self.duration.as_nanos()).unwrap_or(u64::MAX),
                network: NetworkModel::reliable(2 * MS, 3 * MS),
                crashes: Vec::new(),
                mid_batch_crash_rate: 0.0,
                byzantine: Vec::new(),
                twin: None,
                record_trace: true,
            },
        };
        KitReport { outcome: Simulation::with_plugin(scenario, self.spec.clone()).run(), seed: self.seed }
    }
}

impl KitReport {
    /// The run's problems: safety violations, divergences, plugin failures
    /// that no input excuses (traps, outputs over the declared limits,
    /// `reports` failing on a committed outcome), or nothing committed.
    /// `Ok` for a healthy run.
    pub fn check(&self) -> Result<(), String> {
        let mut problems: Vec<String> = self.outcome.violations.clone();
        problems.extend(self.outcome.divergences.iter().map(Divergence::to_string));
        problems.extend(self.outcome.plugin_errors.iter().cloned());
        if self.outcome.committed.is_empty() {
            problems.push("no outcome committed".into());
        }
        match problems.is_empty() {
            true => Ok(()),
            false => Err(format!("seed {}: {}", self.seed, problems.join("; "))),
        }
    }
}
