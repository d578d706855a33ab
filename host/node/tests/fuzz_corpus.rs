//! The corpus of the `parse_config` fuzz target (`fuzz/corpus/parse_config`)
//! as a regression suite: the hand-written seeds parse or fail as their names
//! say, and every file (the seeds plus what fuzz runs found and
//! `scripts/fuzz.sh` merged in) goes through both parsers without a panic.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ocr_node::config::network::NetworkConfig;
use ocr_node::config::node::NodeConfig;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_config")
}

fn seed(name: &str) -> String {
    std::fs::read_to_string(corpus().join(name)).unwrap_or_else(|e| panic!("seed {name}: {e}"))
}

#[test]
fn valid_seeds_parse() {
    for name in ["node_valid.toml", "node_http_sources.toml"] {
        NodeConfig::parse(Path::new(name), &seed(name)).unwrap_or_else(|e| panic!("{e}"));
    }
    NetworkConfig::parse(Path::new("network.toml"), &seed("network_valid.toml")).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn broken_seeds_fail_naming_the_field() {
    let node = |name: &str| NodeConfig::parse(Path::new(name), &seed(name)).unwrap_err().to_string();
    let network = |name: &str| NetworkConfig::parse(Path::new(name), &seed(name)).unwrap_err().to_string();
    assert!(node("node_bad_two_passwords.toml").contains("field `keys`"));
    assert!(node("node_bad_peer_id.toml").contains("field `peers.zz33"));
    assert!(node("node_bad_same_listener.toml").contains("field `metrics_listen`"));
    assert!(node("node_bad_source.toml").contains("field `sources.eth-usd`"));
    assert!(node("node_bad_admin_no_token.toml").contains("field `admin_token_file`"));
    assert!(node("node_bad_admin_public.toml").contains("field `admin_listen`: must be a loopback address"));
    assert!(node("node_truncated.toml").starts_with("node_truncated.toml: "));
    assert!(node("syntax_error.toml").starts_with("syntax_error.toml: "));
    assert!(network("network_bad_f.toml").contains("f: "));
    assert!(network("network_bad_secret.toml").contains("field `shared_secret`"));
    assert!(network("network_bad_timers.toml").contains("delta_round"));
    assert!(network("network_bad_duplicate_signer.toml").contains("onchain signer"));
    assert!(network("syntax_error.toml").starts_with("syntax_error.toml: "));
}

#[test]
fn every_corpus_file_parses_or_fails_cleanly() {
    let mut count = 0;
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&data);
        if let Err(e) = NodeConfig::parse(Path::new("fuzz.toml"), &text) {
            assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
        }
        if let Err(e) = NetworkConfig::parse(Path::new("network.toml"), &text) {
            assert!(e.to_string().starts_with("network.toml"), "{e}");
        }
        count += 1;
    }
    assert!(count >= 13, "the seeds are missing: {count} files");
}
