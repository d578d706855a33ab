//! `ocr-node plugin inspect` on a real plugin, on garbage and on a component
//! the sandbox refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn plugins_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("target directory").join("plugins")
}

fn ocr_node(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ocr-node")).args(args).output().expect("run ocr-node")
}

#[test]
fn inspect_shows_the_median_plugin() {
    let median = plugins_dir().join("median.wasm");
    let config = r#"{"version":1,"value_source":"price","deviation_threshold_ppb":0,"heartbeat_seconds":60}"#;
    let out = ocr_node(&[
        "plugin",
        "inspect",
        median.to_str().unwrap(),
        "--json",
        "--offchain-config",
        config,
        "--n",
        "7",
        "--f",
        "2",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["name"], "median");
    assert_eq!(json["contract_version"], "0.1.0");
    assert_eq!(json["world"], "ocr:plugin/reporting-plugin-world@0.1.0");
    assert_eq!(json["limits"]["max_report_length"], 32 * 5 + 32 * 7);
    assert_eq!(json["sha256"].as_str().unwrap().len(), 64);
    let imports: Vec<&str> = json["imports"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(imports.contains(&"ocr:plugin/data-sources@0.1.0"), "{imports:?}");

    // Without a config the file is still valid; the text says why limits are unknown.
    let out = ocr_node(&["plugin", "inspect", median.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sha256:") && text.contains("the factory refused the config"), "{text}");
}

#[test]
fn inspect_refuses_what_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"definitely not wasm").unwrap();
    let out = ocr_node(&["plugin", "inspect", garbage.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WebAssembly component"));

    let fs_reader = plugins_dir().join("fixtures/fs-reader.wasm");
    let out = ocr_node(&["plugin", "inspect", fs_reader.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wasi:filesystem"));

    let out = ocr_node(&["plugin", "inspect", dir.path().join("missing.wasm").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read plugin file"));
}
