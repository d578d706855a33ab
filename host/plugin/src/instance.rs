//! A plugin instance running in the sandbox. Each call gets its fuel budget or
//! wall-clock deadline, its clock and randomness mode and its log budget set on
//! the store first. A trap of any kind poisons the store, so the instance is
//! dropped and rebuilt with the same config at the next call; the error that
//! comes back says what happened. Nothing a guest does can make this panic,
//! hang past its deadline or grow past its memory cap.

use std::sync::Arc;
use std::time::Duration;

use ocr_plugin_api::{
    AttributedObservation, LimitChecked, Method, OutcomeContext, Plugin, PluginCallError, PluginConfig, PluginInfo,
    ReportPlus, ReportWithInfo, SeqNr, TrapKind,
};
use ocr_plugin_sdk::DataSources;
use wasmtime::Store;
use wasmtime::component::ResourceAny;

use crate::bindings::{ReportingPluginWorld, guest, wit};
use crate::convert;
use crate::engine::LoadedPlugin;
use crate::state::{CurrentCall, StoreState};
use crate::wasi::Entropy;

struct Live {
    store: Store<StoreState>,
    world: ReportingPluginWorld,
    handle: ResourceAny,
}

/// Counters of one instance, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceStats {
    /// Instances built (1 + rebuilds after traps).
    pub instantiations: u64,
    /// Calls that trapped.
    pub traps: u64,
    /// Fuel the last fuel-metered call consumed.
    pub last_fuel_used: u64,
    /// Log lines dropped for exceeding the per-call cap.
    pub log_lines_dropped: u64,
}

/// A sandboxed plugin instance.
pub struct WasmPlugin {
    plugin: Arc<LoadedPlugin>,
    config: PluginConfig,
    sources: Arc<dyn DataSources + Send + Sync>,
    info: PluginInfo,
    name: Arc<str>,
    max_report_count: usize,
    live: Option<Live>,
    closed: bool,
    stats: InstanceStats,
}

type CallResult<R> = wasmtime::Result<Result<R, wit::PluginError>>;

impl LoadedPlugin {
    /// Builds an instance for `config`: runs the factory under its fuel
    /// budget and wraps the instance in the output-limit checks.
    pub fn instantiate(
        self: &Arc<Self>,
        config: &PluginConfig,
        sources: Arc<dyn DataSources + Send + Sync>,
    ) -> Result<LimitChecked<WasmPlugin>, PluginCallError> {
        let (live, info) = build(self, config, &sources, "plugin".into())?;
        if ocr_plugin_api::EffectiveLimits::was_capped(&info.limits) {
            tracing::warn!(plugin = %info.name, limits = ?info.limits, "declared limits above the OCR3 maxima are capped");
        }
        let mut live = live;
        live.store.data_mut().plugin_name = info.name.as_str().into();
        let plugin = WasmPlugin {
            plugin: self.clone(),
            config: config.clone(),
            sources,
            name: info.name.as_str().into(),
            max_report_count: ocr_plugin_api::EffectiveLimits::new(&info.limits).max_report_count,
            info,
            live: Some(live),
            closed: false,
            stats: InstanceStats { instantiations: 1, ..Default::default() },
        };
        Ok(LimitChecked::new(plugin, config.n))
    }
}

fn prepare(
    store: &mut Store<StoreState>,
    plugin: &LoadedPlugin,
    method: Method,
    seq_nr: u64,
    deadline: Duration,
) -> Result<u64, wasmtime::Error> {
    let engine = &plugin.engine;
    let fuel = engine.limits().fuel(method).unwrap_or(u64::MAX);
    store.set_fuel(fuel)?;
    store.set_epoch_deadline(engine.ticks(deadline));
    let state = store.data_mut();
    state.entropy.enter(method, seq_nr);
    state.call = CurrentCall::new(method, seq_nr);
    state.limiter.memory_limit_hit = false;
    Ok(fuel)
}

fn classify(error: &wasmtime::Error, store: &Store<StoreState>) -> TrapKind {
    if store.data().limiter.memory_limit_hit {
        return TrapKind::MemoryLimit;
    }
    match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => TrapKind::OutOfFuel,
        Some(wasmtime::Trap::Interrupt) => TrapKind::Deadline,
        Some(wasmtime::Trap::StackOverflow) => TrapKind::StackOverflow,
        Some(wasmtime::Trap::MemoryOutOfBounds) => TrapKind::MemoryOutOfBounds,
        Some(wasmtime::Trap::UnreachableCodeReached) => TrapKind::Panic,
        _ => TrapKind::Other,
    }
}

fn trap(method: Method, error: &wasmtime::Error, store: &Store<StoreState>) -> PluginCallError {
    let kind = classify(error, store);
    // The cause first, then the top of the guest backtrace for logs.
    let cause = error.root_cause().to_string();
    let backtrace = format!("{error:?}").lines().filter(|l| l.contains("0x")).take(8).collect::<Vec<_>>().join("\n");
    let detail = if backtrace.is_empty() { cause } else { format!("{cause}\n{backtrace}") };
    PluginCallError::Trap { method, kind, detail }
}

/// Instantiates the component and runs the factory.
fn build(
    plugin: &Arc<LoadedPlugin>,
    config: &PluginConfig,
    sources: &Arc<dyn DataSources + Send + Sync>,
    name: Arc<str>,
) -> Result<(Live, PluginInfo), PluginCallError> {
    let method = Method::Create;
    let engine = &plugin.engine.inner;
    let state =
        StoreState::new(&engine.limits, Entropy::new(&config.config_digest), sources.clone(), name, config.oracle_id);
    let mut store = Store::new(&engine.engine, state);
    store.limiter(|s| &mut s.limiter);
    prepare(&mut store, plugin, method, 0, engine.limits.backstop_deadline).map_err(|e| trap(method, &e, &store))?;
    let world = plugin.pre.instantiate(&mut store).map_err(|e| trap(method, &e, &store))?;
    let created = world
        .ocr_plugin_reporting_plugin()
        .call_create(&mut store, &convert::config(config))
        .map_err(|e| trap(method, &e, &store))?
        .map_err(|e| PluginCallError::Guest { method, error: convert::error(e) })?;
    Ok((Live { store, world, handle: created.instance }, convert::info(created.info)))
}

impl WasmPlugin {
    /// Counters of this instance.
    pub fn stats(&self) -> InstanceStats {
        self.stats
    }

    fn deadline(&self, method: Method) -> Duration {
        match method {
            Method::Query => self.config.max_duration_query,
            Method::Observation => self.config.max_duration_observation,
            Method::ShouldAcceptAttestedReport => self.config.max_duration_should_accept_attested_report,
            Method::ShouldTransmitAcceptedReport => self.config.max_duration_should_transmit_accepted_report,
            _ => self.plugin.engine.limits().backstop_deadline,
        }
    }

    fn live(&mut self, method: Method) -> Result<&mut Live, PluginCallError> {
        if self.closed {
            return Err(PluginCallError::Closed { method });
        }
        if self.live.is_none() {
            let (live, _) =
                build(&self.plugin, &self.config, &self.sources, self.info.name.as_str().into()).map_err(|e| {
                    PluginCallError::Unavailable { method, reason: format!("rebuilding the instance failed: {e}") }
                })?;
            self.stats.instantiations += 1;
            self.live = Some(live);
        }
        // Just ensured above.
        self.live.as_mut().ok_or(PluginCallError::Closed { method })
    }

    fn call<R>(
        &mut self,
        method: Method,
        seq_nr: u64,
        f: impl FnOnce(&guest::GuestPlugin, &mut Store<StoreState>, ResourceAny) -> CallResult<R>,
    ) -> Result<R, PluginCallError> {
        let deadline = self.deadline(method);
        let plugin = self.plugin.clone();
        let name = self.name.clone();
        let live = self.live(method)?;
        let fuel =
            prepare(&mut live.store, &plugin, method, seq_nr, deadline).map_err(|e| trap(method, &e, &live.store))?;
        let result = f(&live.world.ocr_plugin_reporting_plugin().plugin(), &mut live.store, live.handle);
        let used = fuel.saturating_sub(live.store.get_fuel().unwrap_or(0));
        let dropped = live.store.data().call.log_lines_dropped;
        if dropped > 0 {
            tracing::warn!(plugin = %name, method = method.wit_name(), seq_nr, dropped, "plugin log lines over the per-call cap were dropped");
        }
        match result {
            Ok(Ok(value)) => {
                self.stats.last_fuel_used = used;
                self.stats.log_lines_dropped += u64::from(dropped);
                Ok(value)
            }
            Ok(Err(error)) => {
                self.stats.last_fuel_used = used;
                self.stats.log_lines_dropped += u64::from(dropped);
                Err(PluginCallError::Guest { method, error: convert::error(error) })
            }
            Err(error) => {
                let err = trap(method, &error, &live.store);
                // The store is poisoned: drop it; the next call rebuilds.
                self.live = None;
                self.stats.traps += 1;
                self.stats.log_lines_dropped += u64::from(dropped);
                tracing::warn!(plugin = %name, method = method.wit_name(), seq_nr, error = %err, "plugin trapped; instance discarded");
                Err(err)
            }
        }
    }
}

impl Plugin for WasmPlugin {
    fn info(&self) -> &PluginInfo {
        &self.info
    }

    fn discard_instance(&mut self) {
        // Whatever state produced a bad result goes; the next call rebuilds.
        self.live = None;
    }

    fn query(&mut self, ctx: &OutcomeContext) -> Result<Vec<u8>, PluginCallError> {
        let c = convert::ctx(ctx);
        self.call(Method::Query, ctx.seq_nr, |g, s, h| g.call_query(s, h, &c))
    }

    fn observation(&mut self, ctx: &OutcomeContext, query: &[u8]) -> Result<Vec<u8>, PluginCallError> {
        let c = convert::ctx(ctx);
        self.call(Method::Observation, ctx.seq_nr, |g, s, h| g.call_observation(s, h, &c, query))
    }

    fn validate_observation(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observation: &AttributedObservation,
    ) -> Result<(), PluginCallError> {
        let c = convert::ctx(ctx);
        let o = convert::observation(observation);
        self.call(Method::ValidateObservation, ctx.seq_nr, |g, s, h| g.call_validate_observation(s, h, &c, query, &o))
    }

    fn observation_quorum(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<bool, PluginCallError> {
        let c = convert::ctx(ctx);
        let aos = convert::observations(observations);
        self.call(Method::ObservationQuorum, ctx.seq_nr, |g, s, h| g.call_observation_quorum(s, h, &c, query, &aos))
    }

    fn outcome(
        &mut self,
        ctx: &OutcomeContext,
        query: &[u8],
        observations: &[AttributedObservation],
    ) -> Result<Vec<u8>, PluginCallError> {
        let c = convert::ctx(ctx);
        let aos = convert::observations(observations);
        self.call(Method::Outcome, ctx.seq_nr, |g, s, h| g.call_outcome(s, h, &c, query, &aos))
    }

    fn reports(&mut self, seq_nr: SeqNr, outcome: &[u8]) -> Result<Vec<ReportPlus>, PluginCallError> {
        let packed = self.call(Method::Reports, seq_nr, |g, s, h| g.call_reports(s, h, seq_nr, outcome))?;
        convert::unpack_reports(packed, self.max_report_count).inspect_err(|_| self.discard_instance())
    }

    fn should_accept_attested_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError> {
        let r = convert::report_with_info(report);
        self.call(Method::ShouldAcceptAttestedReport, seq_nr, |g, s, h| {
            g.call_should_accept_attested_report(s, h, seq_nr, &r)
        })
    }

    fn should_transmit_accepted_report(
        &mut self,
        seq_nr: SeqNr,
        report: &ReportWithInfo,
    ) -> Result<bool, PluginCallError> {
        let r = convert::report_with_info(report);
        self.call(Method::ShouldTransmitAcceptedReport, seq_nr, |g, s, h| {
            g.call_should_transmit_accepted_report(s, h, seq_nr, &r)
        })
    }

    fn close(&mut self) -> Result<(), PluginCallError> {
        if self.closed {
            return Ok(());
        }
        let result = match self.live.is_some() {
            true => self.call(Method::Close, 0, |g, s, h| g.call_close(s, h)),
            false => Ok(()),
        };
        if let Some(mut live) = self.live.take() {
            // Dropping the store frees everything; the explicit drop runs the
            // guest's destructor first where the instance is still healthy.
            let _ = live.handle.resource_drop(&mut live.store);
        }
        self.closed = true;
        result
    }
}
