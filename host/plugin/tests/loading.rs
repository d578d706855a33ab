//! Loading: what is refused and why, and the compiled-artifact cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use ocr_plugin_host::{CacheOutcome, EngineOptions, LoadError, PluginEngine, SandboxLimits};
use ocr_plugin_sdk::StaticDataSources;

#[test]
fn not_a_component_wrong_world_and_oversize_are_refused() {
    let engine = common::engine();
    let err = |bytes: &[u8]| engine.load(bytes).err().expect("refused");
    assert!(matches!(err(b"not wasm at all"), LoadError::NotAComponent(_)));
    let core = wat::parse_str(r#"(module (func (export "outcome")))"#).unwrap();
    assert!(err(&core).to_string().contains("core wasm module"));
    let other_world = wat::parse_str(
        r#"(component (core module $m (func (export "f"))) (core instance $i (instantiate $m))
            (func (export "hello") (canon lift (core func $i "f"))))"#,
    )
    .unwrap();
    let e = err(&other_world);
    assert!(matches!(&e, LoadError::WrongWorld { exports } if exports == &["hello".to_owned()]), "{e}");
    assert!(e.to_string().contains("ocr:plugin/reporting-plugin@0.1.0"), "{e}");

    let small = PluginEngine::new(EngineOptions {
        limits: SandboxLimits { max_component_bytes: 1000, ..SandboxLimits::default() },
        ..EngineOptions::default()
    })
    .unwrap();
    let median = common::plugin_bytes("median.wasm");
    assert!(matches!(small.load(&median), Err(LoadError::TooLarge { limit: 1000, .. })));
}

#[test]
fn a_component_with_our_export_name_but_wrong_types_fails_to_link() {
    let engine = common::engine();
    let fake = wat::parse_str(
        r#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $exports (export "create" (func $f)))
            (export "ocr:plugin/reporting-plugin@0.1.0" (instance $exports)))"#,
    )
    .unwrap();
    match engine.load(&fake) {
        Err(LoadError::Link(message)) => assert!(!message.is_empty()),
        Err(other) => panic!("expected a link error, got {other}"),
        Ok(_) => panic!("a component with the wrong types was accepted"),
    }
}

#[test]
fn a_newer_contract_version_is_refused_with_both_versions_named() {
    let engine = common::engine();
    let future = wat::parse_str(
        r#"(component (core module $m (func (export "f"))) (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $e (export "create" (func $f)))
            (export "ocr:plugin/reporting-plugin@0.2.0" (instance $e)))"#,
    )
    .unwrap();
    let e = engine.load(&future).err().expect("refused");
    assert!(matches!(&e, LoadError::UnsupportedVersion { found, .. } if found == "0.2.0"), "{e}");
    assert!(e.to_string().contains("0.1.0"));
}

#[test]
fn compiled_artifacts_are_cached_and_reused_and_corruption_recompiles() {
    let dir = tempfile::tempdir().unwrap();
    let options = EngineOptions { cache_dir: Some(dir.path().to_owned()), ..EngineOptions::default() };
    let bytes = common::plugin_bytes("median.wasm");
    let first = PluginEngine::new(options.clone()).unwrap().load(&bytes).unwrap();
    assert_eq!(first.cache_outcome(), CacheOutcome::Miss);
    // A new engine (a restarted node) loads from the cache.
    let engine = PluginEngine::new(options.clone()).unwrap();
    let second = engine.load(&bytes).unwrap();
    assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(second.component_info().sha256, first.component_info().sha256);
    let config = common::config(
        4,
        1,
        0,
        br#"{"version":1,"value_source":"p","deviation_threshold_ppb":0,"heartbeat_seconds":9}"#,
    );
    assert!(second.instantiate(&config, Arc::new(StaticDataSources::new())).is_ok());
    // Corrupt the artifact: it is recompiled, never executed.
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "cwasm") {
            std::fs::write(entry.path(), b"garbage").unwrap();
        }
    }
    let third = PluginEngine::new(options).unwrap().load(&bytes).unwrap();
    assert_eq!(third.cache_outcome(), CacheOutcome::Miss);
}
