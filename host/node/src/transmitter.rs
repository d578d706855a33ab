//! Sends the reports the protocol says this node should transmit to the
//! aggregator contract. One report at a time from a bounded queue (a node
//! far behind the chain drops its oldest reports, which later ones supersede
//! anyway); every outcome is logged with its reason and counted, and a
//! report the contract already has is never sent.

use std::sync::Arc;

use ocr_chain::{Address, Chain, PrivateKeySigner, TransmitCall, TxOutcome};
use ocr_core::attestation::AttestedReport;
use ocr_plugin_sdk::ConfigDigest;
use tokio::sync::mpsc;

use crate::metrics::{NodeMetrics, TransmitLabels};

/// Reports waiting to be sent.
pub const QUEUE: usize = 64;

/// Where a node's transmissions go.
pub struct Transmitter {
    /// The chain.
    pub chain: Arc<dyn Chain>,
    /// The aggregator.
    pub contract: Address,
    /// The transmitter account's key.
    pub signer: PrivateKeySigner,
    /// The instance's digest.
    pub config_digest: ConfigDigest,
    /// The instance's f.
    pub f: u8,
    /// Metrics.
    pub metrics: NodeMetrics,
}

impl Transmitter {
    fn count(&self, result: &'static str) {
        self.metrics.transmit_results.get_or_create(&TransmitLabels { result }).inc();
    }

    /// Sends reports from `queue` until it closes.
    pub async fn run(self, mut queue: mpsc::Receiver<AttestedReport>) {
        while let Some(report) = queue.recv().await {
            let seq_nr = report.seq_nr;
            let call = match TransmitCall::from_attested(&report, &self.config_digest, self.f) {
                Ok(call) => call,
                Err(error) => {
                    tracing::warn!(seq_nr, %error, "cannot build the transmit call");
                    self.count("invalid");
                    continue;
                }
            };
            match self.chain.transmit(self.contract, &call, &self.signer).await {
                Ok(TxOutcome::Included(included)) => {
                    tracing::info!(
                        seq_nr,
                        tx = %included.tx_hash,
                        block = included.block_number,
                        gas = included.gas_used,
                        "report transmitted"
                    );
                    self.count("included");
                }
                Ok(TxOutcome::AlreadyOnChain { latest_seq_nr }) => {
                    tracing::debug!(seq_nr, latest_seq_nr, "report already on chain");
                    self.count("already_on_chain");
                }
                Ok(TxOutcome::Reverted { reason, tx_hash, .. }) => {
                    // Another transmitter's report for a later seq-nr may land
                    // first: StaleSeqNr is the normal race, the rest is not.
                    let stale = reason.name() == Some("StaleSeqNr");
                    if stale {
                        tracing::debug!(seq_nr, %reason, "report overtaken on chain");
                    } else {
                        tracing::warn!(seq_nr, %reason, tx = ?tx_hash, "transmission reverted");
                    }
                    self.count(if stale { "stale" } else { "reverted" });
                }
                Err(error) => {
                    tracing::warn!(seq_nr, %error, "transmission failed");
                    self.count("failed");
                }
            }
        }
    }
}
