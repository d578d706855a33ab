//! The sandbox policy as data: fuel per deterministic method, wall-clock
//! backstops, memory and table caps, log volume and component size. One value
//! per engine, set per store before every call (never baked into the
//! pre-instantiated component), so every node that uses the defaults meters
//! plugins identically.

use std::time::Duration;

use ocr_plugin_api::Method;

/// Limits applied to every plugin call.
///
/// Fuel budgets decide whether a deterministic call succeeds, so they must be
/// identical on every node of a network: change them only together with the
/// network (and the wasmtime version, whose fuel costs may change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Fuel for the factory (`create`).
    pub fuel_create: u64,
    /// Fuel for one `validate-observation`.
    pub fuel_validate_observation: u64,
    /// Fuel for one `observation-quorum`.
    pub fuel_observation_quorum: u64,
    /// Fuel for one `outcome`.
    pub fuel_outcome: u64,
    /// Fuel for one `reports`.
    pub fuel_reports: u64,
    /// Wall-clock backstop for calls that have no deadline of their own
    /// (deterministic methods, `create`, `close`). Fuel ends them first in
    /// any normal case; this only catches a host-side stall.
    pub backstop_deadline: Duration,
    /// Most linear memory one instance may use, in bytes.
    pub max_memory_bytes: usize,
    /// Most table elements one table may hold.
    pub max_table_elements: usize,
    /// Largest component file accepted, in bytes. A Rust plugin is well
    /// under 1 MiB; a Python one (componentize-py bundles the interpreter
    /// and a snapshot of its heap) is about 18 MiB.
    pub max_component_bytes: usize,
    /// Most log lines a single call may emit; more are counted and dropped.
    pub max_log_lines_per_call: u32,
    /// Longest log message kept, in bytes; longer ones are truncated.
    pub max_log_message_bytes: usize,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            fuel_create: 500_000_000,
            fuel_validate_observation: 50_000_000,
            fuel_observation_quorum: 50_000_000,
            fuel_outcome: 1_000_000_000,
            fuel_reports: 1_000_000_000,
            backstop_deadline: Duration::from_secs(10),
            max_memory_bytes: 64 << 20,
            max_table_elements: 100_000,
            max_component_bytes: 32 << 20,
            max_log_lines_per_call: 64,
            max_log_message_bytes: 4096,
        }
    }
}

impl SandboxLimits {
    /// The fuel budget of a method; `None` for the wall-clock-bounded ones.
    pub fn fuel(&self, method: Method) -> Option<u64> {
        match method {
            Method::Create => Some(self.fuel_create),
            Method::ValidateObservation => Some(self.fuel_validate_observation),
            Method::ObservationQuorum => Some(self.fuel_observation_quorum),
            Method::Outcome => Some(self.fuel_outcome),
            Method::Reports => Some(self.fuel_reports),
            Method::Query
            | Method::Observation
            | Method::ShouldAcceptAttestedReport
            | Method::ShouldTransmitAcceptedReport
            | Method::Close => None,
        }
    }
}
