//! Input: the text of a config file (lossy UTF-8), parsed both as a node
//! TOML and as a network TOML. Either parser may refuse it, but with an
//! error naming the file, never a panic.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ocr_node::config::network::NetworkConfig;
use ocr_node::config::node::NodeConfig;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(error) = NodeConfig::parse(Path::new("fuzz.toml"), &text) {
        assert!(error.to_string().starts_with("fuzz.toml"), "{error}");
    }
    if let Err(error) = NetworkConfig::parse(Path::new("network.toml"), &text) {
        assert!(error.to_string().starts_with("network.toml"), "{error}");
    }
});
