//! # The OCR3 protocol core
//!
//! The protocol as sans-IO state machines in the style of quinn-proto and
//! raft-rs: inputs (messages, timer expiries, plugin results) come in with
//! everything they need, and ordered actions come out (send, broadcast, set a
//! timer, persist before continuing, call the plugin). There is no thread,
//! socket, clock or random number generator inside, so the same code runs
//! under tokio in the node and under the deterministic simulator in tests.
//!
//! What is here so far: the public configuration and its validation, the EVM
//! config digest, the domain-separated payloads of every signature, Ed25519
//! offchain keys, the keyed leader and transmission permutations, and the
//! pacemaker. Outcome generation, report attestation and transmission
//! scheduling build on these. [`wire`] is the binary encoding of messages
//! and stored records, with the size bounds and rate limits the network
//! enforces before decoding.

mod config;
mod digest;
pub mod pacemaker;
pub mod payload;
pub mod permutation;
pub mod signing;

pub use config::{Address, ConfigError, MAX_STAGES, MIN_RESOURCE_DELTA, OracleIdentity, PublicConfig, Strictness};
pub use digest::{ContractConfig, EVM_DIGEST_PREFIX};

pub mod attestation;
pub mod certificate;
pub mod messages;
pub mod onchain;
pub mod oracle;
pub mod outgen;
pub mod plugin_call;
pub mod storage;
pub mod transmission;
pub mod verification_stats;
pub mod wire;
