//! The hostile-plugin suite: each misbehaviour ends in the expected typed
//! error, the host stays up, and the next call on a fresh instance succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ocr_plugin_api::{Plugin, PluginCallError, TrapKind};
use ocr_plugin_host::{LoadError, WasmPlugin};
use ocr_plugin_sdk::{AttributedObservation, OutcomeContext, PluginError, ReportWithInfo, StaticDataSources};

type Checked = ocr_plugin_api::LimitChecked<WasmPlugin>;

fn hostile(offchain: &[u8]) -> Checked {
    let engine = common::engine_with(common::fast_limits());
    let plugin = common::load(&engine, "fixtures/hostile.wasm");
    plugin
        .instantiate(&common::config(4, 1, 0, offchain), Arc::new(StaticDataSources::new().with("price", 42)))
        .expect("hostile plugin instantiates with a benign config")
}

fn ctx(seq_nr: u64) -> OutcomeContext {
    OutcomeContext { seq_nr, ..Default::default() }
}

fn ao() -> AttributedObservation {
    AttributedObservation { observation: b"x".to_vec(), observer: 1 }
}

fn expect_trap<T: std::fmt::Debug>(result: Result<T, PluginCallError>, expected: TrapKind) {
    match result {
        Err(PluginCallError::Trap { kind, .. }) if kind == expected => {}
        other => panic!("expected a {expected} trap, got {other:?}"),
    }
}

/// After any failure, a benign call on the same handle works (on a fresh
/// instance when the failure was a trap).
fn recovers(plugin: &mut Checked) {
    assert_eq!(plugin.outcome(&ctx(9), b"", &[ao()]).unwrap(), b"1 observations");
    assert_eq!(plugin.observation(&ctx(9), b"").unwrap(), b"fine");
}

#[test]
fn an_infinite_loop_in_outcome_is_stopped_by_fuel() {
    let mut plugin = hostile(b"");
    expect_trap(plugin.outcome(&ctx(1), b"loop", &[ao()]), TrapKind::OutOfFuel);
    expect_trap(plugin.validate_observation(&ctx(1), b"loop", &ao()), TrapKind::OutOfFuel);
    expect_trap(plugin.observation_quorum(&ctx(1), b"loop", &[ao()]), TrapKind::OutOfFuel);
    expect_trap(plugin.reports(1, b"loop"), TrapKind::OutOfFuel);
    recovers(&mut plugin);
    assert_eq!(plugin.inner_mut().stats().traps, 4);
    assert_eq!(plugin.inner_mut().stats().instantiations, 5);
}

#[test]
fn an_infinite_loop_in_observation_is_stopped_by_the_deadline() {
    let mut plugin = hostile(b"");
    let started = Instant::now();
    expect_trap(plugin.observation(&ctx(1), b"loop"), TrapKind::Deadline);
    let took = started.elapsed();
    // The configured deadline is 200 ms; the bound here only guards against a
    // hang, not a timing target.
    assert!(took < Duration::from_secs(30), "the deadline did not fire ({took:?})");
    let query_ctx = OutcomeContext { previous_outcome: b"loop".to_vec(), ..ctx(1) };
    expect_trap(plugin.query(&query_ctx), TrapKind::Deadline);
    let report = ReportWithInfo { report: b"loop".to_vec(), info: vec![] };
    expect_trap(plugin.should_accept_attested_report(1, &report), TrapKind::Deadline);
    expect_trap(plugin.should_transmit_accepted_report(1, &report), TrapKind::Deadline);
    recovers(&mut plugin);
}

#[test]
fn sleeping_does_not_park_a_host_thread() {
    // Sleeps return at once in the sandbox, so a sleeping loop burns its own
    // deadline instead of blocking where epochs cannot interrupt it.
    let mut plugin = hostile(b"");
    expect_trap(plugin.observation(&ctx(1), b"sleep-loop"), TrapKind::Deadline);
    expect_trap(plugin.outcome(&ctx(1), b"sleep-loop", &[ao()]), TrapKind::OutOfFuel);
    recovers(&mut plugin);
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let mut plugin = hostile(b"");
    expect_trap(plugin.outcome(&ctx(1), b"memory-bomb", &[ao()]), TrapKind::MemoryLimit);
    expect_trap(plugin.observation(&ctx(1), b"memory-bomb"), TrapKind::MemoryLimit);
    recovers(&mut plugin);
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    let mut plugin = hostile(b"");
    // Frames on the engine's stack hit its 512 KiB limit.
    expect_trap(plugin.outcome(&ctx(1), b"recurse-native", &[ao()]), TrapKind::StackOverflow);
    // Frames with address-taken locals live on the guest's own stack in
    // linear memory, which runs off its bottom first.
    expect_trap(plugin.outcome(&ctx(1), b"recurse", &[ao()]), TrapKind::MemoryOutOfBounds);
    expect_trap(plugin.observation(&ctx(1), b"recurse-native"), TrapKind::StackOverflow);
    recovers(&mut plugin);
}

#[test]
fn a_panic_is_a_trap() {
    let mut plugin = hostile(b"");
    expect_trap(plugin.outcome(&ctx(1), b"panic", &[ao()]), TrapKind::Panic);
    expect_trap(plugin.observation(&ctx(1), b"panic"), TrapKind::Panic);
    recovers(&mut plugin);
}

#[test]
fn outputs_over_the_declared_limits_are_refused() {
    let mut plugin = hostile(b"");
    match plugin.outcome(&ctx(1), b"big-output", &[ao()]) {
        Err(PluginCallError::OutputTooLarge { what: "outcome", len, limit: 4096, .. }) => assert_eq!(len, 1 << 20),
        other => panic!("expected an outcome over its limit, got {other:?}"),
    }
    assert!(matches!(
        plugin.observation(&ctx(1), b"big-output"),
        Err(PluginCallError::OutputTooLarge { what: "observation", limit: 2048, .. })
    ));
    assert!(matches!(plugin.reports(1, b"big-output"), Err(PluginCallError::OutputTooLarge { what: "report", .. })));
    recovers(&mut plugin);
}

#[test]
fn more_reports_than_allowed_and_bad_schedules_are_refused() {
    let mut plugin = hostile(b"");
    assert!(matches!(plugin.reports(1, b"many-reports"), Err(PluginCallError::TooManyReports { count: 3, limit: 2 })));
    assert!(matches!(plugin.reports(1, b"bad-schedule"), Err(PluginCallError::Malformed { .. })));
    assert_eq!(plugin.reports(1, b"").unwrap().len(), 1);
}

#[test]
fn declared_limits_are_capped_by_the_ocr3_maxima() {
    let mut plugin = hostile(b"huge-limits");
    assert_eq!(plugin.limits().max_outcome_length, 5 << 20);
    assert_eq!(plugin.limits().max_report_count, 2000);
    recovers(&mut plugin);
}

#[test]
fn a_log_flood_is_capped_and_costs_the_host_little() {
    let mut plugin = hostile(b"");
    // 1000 lines of 64 KiB with 10,000 fields each: the host reads at most 64
    // lines, 4 KiB of each message and 32 fields, and counts the rest.
    assert_eq!(plugin.observation(&ctx(1), b"log-flood").unwrap(), b"flooded");
    assert_eq!(plugin.inner_mut().stats().log_lines_dropped, 1000 - 64);
    // Allowed from deterministic methods too (logging never changes results).
    assert_eq!(plugin.outcome(&ctx(1), b"log-flood", &[ao()]).unwrap(), b"flooded");
}

#[test]
fn exiting_is_a_trap_and_the_next_call_works() {
    let mut plugin = hostile(b"");
    expect_trap(plugin.observation(&ctx(1), b"exit"), TrapKind::Other);
    expect_trap(plugin.outcome(&ctx(1), b"exit", &[ao()]), TrapKind::Other);
    recovers(&mut plugin);
}

#[test]
fn over_limit_outputs_discard_the_instance() {
    let mut plugin = hostile(b"");
    assert!(plugin.outcome(&ctx(1), b"big-output", &[ao()]).is_err());
    recovers(&mut plugin);
    assert_eq!(plugin.inner_mut().stats().instantiations, 2, "the instance was rebuilt after the bad output");
}

#[test]
fn the_environment_is_empty() {
    let mut plugin = hostile(b"");
    let seen = String::from_utf8(plugin.observation(&ctx(1), b"env").unwrap()).unwrap();
    assert_eq!(seen, "vars=[] args=[]");
}

#[test]
fn data_sources_are_only_reachable_from_query_and_observation() {
    let mut plugin = hostile(b"");
    assert_eq!(plugin.observation(&ctx(1), b"data-source").unwrap(), b"42");
    let query_ctx = OutcomeContext { previous_outcome: b"data-source".to_vec(), ..ctx(1) };
    assert_eq!(plugin.query(&query_ctx).unwrap(), b"42");
    // outcome calls the import directly, bypassing the SDK: the host refuses.
    let refused = String::from_utf8(plugin.outcome(&ctx(1), b"data-source", &[ao()]).unwrap()).unwrap();
    assert_eq!(refused, "Err(SourceError::NotPermitted)");
}

#[test]
fn files_and_sockets_are_refused_at_load() {
    let engine = common::engine();
    for (fixture, interface) in
        [("fixtures/fs-reader.wasm", "wasi:filesystem"), ("fixtures/socket-opener.wasm", "wasi:sockets")]
    {
        match engine.load(&common::plugin_bytes(fixture)) {
            Err(LoadError::ForbiddenImports(imports)) => {
                assert!(imports.iter().any(|i| i.starts_with(interface)), "{fixture}: {imports:?}")
            }
            Err(other) => panic!("{fixture}: expected forbidden imports, got {other}"),
            Ok(_) => panic!("{fixture} was accepted"),
        }
    }
}

#[test]
fn factories_that_trap_loop_or_refuse_are_typed_errors() {
    let engine = common::engine_with(common::fast_limits());
    let plugin = common::load(&engine, "fixtures/hostile.wasm");
    let sources = Arc::new(StaticDataSources::new());
    let create = |offchain: &[u8]| plugin.instantiate(&common::config(4, 1, 0, offchain), sources.clone()).err();
    assert!(matches!(create(b"trap-in-create"), Some(PluginCallError::Trap { kind: TrapKind::Panic, .. })));
    assert!(matches!(create(b"loop-in-create"), Some(PluginCallError::Trap { kind: TrapKind::OutOfFuel, .. })));
    assert!(matches!(create(b"reject"), Some(PluginCallError::Guest { error: PluginError::InvalidConfig(_), .. })));
    assert!(create(b"").is_none());
}
