//! The chain integration's error type. Every failure the node can act on has
//! its own variant (a revert with the contract's decoded reason, a config
//! whose digest does not match, a receipt that never came, an RPC failure
//! after the retries), so callers match instead of parsing messages.

use std::time::Duration;

use alloy::transports::TransportError;
use alloy_primitives::B256;

use crate::bindings::RevertReason;

/// What went wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A call or a transaction that had to succeed reverted.
    #[error("{what} reverted: {reason}")]
    Reverted {
        /// The call or transaction.
        what: &'static str,
        /// The decoded reason.
        reason: RevertReason,
    },
    /// The digest the contract reports is not the one its config hashes to:
    /// a different digest scheme or a buggy contract, not a config to run.
    #[error("config digest mismatch: the contract reports {onchain}, its config hashes to {computed}")]
    DigestMismatch {
        /// `latestConfigDetails().configDigest`.
        onchain: B256,
        /// `ContractConfig::digest()` of the `ConfigSet` event.
        computed: B256,
    },
    /// `latestConfigDetails()` names a block without the matching event
    /// (e.g. an RPC node that pruned its logs).
    #[error("no ConfigSet event with digest {digest} in block {block}")]
    ConfigEventMissing {
        /// The block of the latest `setConfig`.
        block: u64,
        /// The digest looked for.
        digest: B256,
    },
    /// Return data or a log that does not decode as the ABI says.
    #[error("could not decode {what}: {message}")]
    Decode {
        /// What was decoded.
        what: &'static str,
        /// The decoder's complaint.
        message: String,
    },
    /// A JSON-RPC request failed (after retrying transient failures).
    #[error("RPC {method} failed after {attempts} attempt(s): {source}")]
    Rpc {
        /// The request.
        method: &'static str,
        /// How many times it was tried.
        attempts: u32,
        /// The last failure.
        #[source]
        source: TransportError,
    },
    /// The endpoint URL is not valid.
    #[error("invalid RPC URL {url:?}: {message}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it is invalid.
        message: String,
    },
    /// A sent transaction had no receipt within the timeout.
    #[error("no receipt for transaction {tx_hash} after {timeout:?}")]
    ReceiptTimeout {
        /// The transaction.
        tx_hash: B256,
        /// How long we waited.
        timeout: Duration,
    },
    /// The transaction could not be signed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The embedded EVM rejected the transaction before executing it
    /// (invalid nonce, gas, …) or failed internally.
    #[error("EVM error: {0}")]
    Evm(String),
    /// Anything else the chain answered that makes no sense.
    #[error("{what}: {message}")]
    Unexpected {
        /// What was being done.
        what: &'static str,
        /// What happened.
        message: String,
    },
}

impl ChainError {
    /// The revert reason, if this is a revert.
    pub fn revert_reason(&self) -> Option<&RevertReason> {
        match self {
            Self::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }
}
