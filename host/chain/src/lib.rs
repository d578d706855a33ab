//! # ocr-chain: the node's chain integration
//!
//! Everything between an attested report and the `OCR3MedianAggregator`
//! contract (`contracts/`):
//!
//! - [`bindings`]: `alloy::sol!` bindings generated from the committed
//!   artifact (ABI and bytecode), the onchain config encoding and revert
//!   decoding into readable reasons;
//! - [`TransmitCall`]: an [`AttestedReport`](ocr_core::attestation::AttestedReport)
//!   as the contract's `transmit` arguments (exactly f+1 signatures);
//! - [`Chain`]: deploy, `setConfig`, reading the config back with its digest
//!   checked, the latest seq-nr and round, transmitting with a pre-check,
//!   and `NewTransmission` events, over two backends:
//!   [`EmbeddedChain`] (revm in process, the no-setup default) and
//!   [`RpcChain`] (any JSON-RPC endpoint through alloy, with local signing,
//!   nonce management, gas estimation and bounded retries).
//!
//! Both backends execute the same bytecode and decode reverts with the same
//! error types, so a test on the embedded chain says what the contract does.

pub mod bindings;
mod chain;
mod embedded;
mod error;
mod rpc;
mod transmit_call;

pub use alloy::signers::local::PrivateKeySigner;
pub use alloy_primitives::{Address, B256, Bytes, I256, U256, aliases::I192};
pub use bindings::{RevertReason, decode_onchain_config, describe_revert, encode_onchain_config};
pub use chain::{Chain, ChainLog, Included, RoundData, SetConfigArgs, Transmission, TxOutcome};
pub use embedded::{DEFAULT_BALANCE, EmbeddedChain, GAS_LIMIT};
pub use error::ChainError;
pub use rpc::{RpcChain, RpcOptions, http_provider};
pub use transmit_call::{MAX_SIGNATURES, SignatureProblem, TransmitCall, TransmitCallError};

/// A transaction signer from a 32-byte secp256k1 private key.
pub fn signer_from_bytes(key: &[u8; 32]) -> Result<PrivateKeySigner, ChainError> {
    PrivateKeySigner::from_bytes(&B256::from(*key)).map_err(|e| ChainError::Signing(e.to_string()))
}
