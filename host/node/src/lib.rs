//! The OCR3 oracle node as a library: configuration, keys, storage, data
//! sources, metrics, the driver that runs the protocol core on tokio, and
//! the wiring of one node. The `ocr-node` binary is a thin CLI over it, and
//! the benchmark and tests run nodes through it in one process.

pub mod admin;
pub mod admin_client;
pub mod bench;
pub mod bench_chain;
pub mod certificate_file;
pub mod chain_setup;
pub mod config;
pub mod config_source;
pub mod driver;
pub mod keys;
pub mod metrics;
pub mod network_init;
pub mod node;
pub mod plugin_setup;
pub mod plugin_store;
pub mod plugin_template;
pub mod plugin_worker;
pub mod sources;
pub mod storage;
pub mod transmitter;
