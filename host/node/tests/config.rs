#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Config files: a generated network parses; every kind of mistake is an
//! error that names the file and the field.

use std::path::{Path, PathBuf};

use ocr_node::config::network::NetworkConfig;
use ocr_node::config::node::NodeConfig;
use ocr_node::network_init::{self, InitOptions};
use ocr_node::storage::Durability;

fn plugin() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_ocr-node"));
    exe.parent().unwrap().parent().unwrap().join("plugins").join("median.wasm")
}

fn generated(dir: &Path) -> (String, String) {
    let layout = network_init::init(&InitOptions {
        nodes: 4,
        out: dir.to_path_buf(),
        plugin: plugin(),
        plugin_config: network_init::default_median_config(),
        base_port: 0,
        delta_round_ms: 100,
        r_max: 20,
        liar: false,
        durability: Durability::Machine,
        chain: None,
        sources: None,
    })
    .unwrap();
    (
        std::fs::read_to_string(&layout.node_configs[0]).unwrap(),
        std::fs::read_to_string(&layout.network_config).unwrap(),
    )
}

fn node_error(text: &str) -> String {
    NodeConfig::parse(Path::new("/etc/ocr/node.toml"), text).unwrap_err().to_string()
}

fn network_error(text: &str) -> String {
    NetworkConfig::parse(Path::new("/etc/ocr/network.toml"), text).unwrap_err().to_string()
}

#[test]
fn generated_configs_parse_and_mistakes_name_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let (node, network) = generated(dir.path());
    let parsed = NodeConfig::parse(Path::new("/etc/ocr/node.toml"), &node).unwrap();
    assert_eq!(parsed.keys_dir, Path::new("/etc/ocr/keys"), "relative paths resolve against the file");
    assert_eq!(parsed.peers.len(), 3);
    let instance = NetworkConfig::parse(Path::new("/etc/ocr/network.toml"), &network).unwrap();
    assert_eq!(instance.public.n(), 4);

    let cases: Vec<(String, &str)> = vec![
        (node.replacen("listen = \"127.0.0.1:", "listen = \"nowhere:", 1), "listen"),
        (node.replace("password_file = \"password\"", ""), "keys"),
        (node.replace("password_file = \"password\"", "password_file = \"p\"\npassword_env = \"X\""), "keys"),
        (format!("{node}\nsurprise = 1\n"), "surprise"),
        (node.replacen("[peers]\n\"", "[peers]\n\"zz", 1), "peers."),
        (node.replace("step_ppm = 300", "step_ppm = 900000"), "sources.eth-usd"),
        (node.replace("kind = \"random_walk\"", "kind = \"carrier_pigeon\""), "carrier_pigeon"),
        (
            format!(
                "{node}\n[chain]\nrpc_url = \"ftp://x\"\ncontract = \"0x0000000000000000000000000000000000000001\"\nshared_secret_file = \"s\"\n"
            ),
            "chain.rpc_url",
        ),
    ];
    for (text, field) in cases {
        let error = node_error(&text);
        assert!(error.contains("/etc/ocr/node.toml") && error.contains(field), "expected {field:?} in: {error}");
    }

    let cases: Vec<(String, &str)> = vec![
        (network.replacen("f = 1", "f = 2", 1), "f"),
        (network.replacen("shared_secret = \"", "shared_secret = \"0", 1), "shared_secret"),
        (network.replacen("sha256 = \"", "sha256 = \"00", 1), "plugin.sha256"),
        (network.replacen("peer_id = \"", "peer_id = \"x", 1), "oracles[0].peer_id"),
        (network.replacen("delta_progress_ms = 2000", "delta_progress_ms = 1", 1), "delta"),
        (network.replace("[plugin]", "[plugin]\nextra = true"), "extra"),
    ];
    for (text, field) in cases {
        let error = network_error(&text);
        assert!(
            error.contains("/etc/ocr/network.toml") && error.to_lowercase().contains(&field.to_lowercase()),
            "expected {field:?} in: {error}"
        );
    }
}

#[test]
fn the_digest_binds_the_whole_offchain_config() {
    let dir = tempfile::tempdir().unwrap();
    let (_, network) = generated(dir.path());
    let digest = |text: &str| NetworkConfig::parse(Path::new("n.toml"), text).unwrap().public.config_digest;
    let base = digest(&network);
    assert_eq!(digest(&network), base, "deterministic");
    for changed in [
        network.replacen("delta_round_ms = 100", "delta_round_ms = 101", 1),
        network.replacen("r_max = 20", "r_max = 21", 1),
        network.replacen("\"heartbeat_seconds\":60", "\"heartbeat_seconds\":61", 1),
        network.replacen("config_count = 1", "config_count = 2", 1),
    ] {
        assert_ne!(changed, network, "the edit applies");
        assert_ne!(digest(&changed), base);
    }
}
