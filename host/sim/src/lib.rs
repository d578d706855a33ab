//! # The deterministic simulator
//!
//! Runs n oracles of the real protocol core against the native median plugin
//! in virtual time, with one seeded RNG for everything random: network delay,
//! jitter, drops, duplicates and partitions; crashes and restarts that keep
//! only what was persisted. Every run is checked for safety (no two outcomes
//! for one seq-nr anywhere; no going back within an incarnation) and liveness
//! (outcomes commit again once faults stop), and folds its events into a
//! trace hash: one seed always replays one trace.

mod byzantine;
pub mod faults;
pub mod kit;
pub mod network;
mod persistence;
pub mod sources;
pub mod world;

pub use kit::{KitReport, Script, ScriptedSources, TestKit};
pub use network::{NetworkModel, Partition};
pub use world::{
    Byzantine, Crash, Divergence, LIVENESS_BOUND, Outcome, PluginFactory, PluginSpec, Scenario, Simulation,
    SourcesFactory, Twin,
};
