//! `ocr-node bench-chain`: the chain path alone, from an attested report to
//! its transaction included, as the node's transmitter runs it: build the
//! transmit call from the report and its f+1 signatures, read the contract's
//! latest seq-nr (the pre-check), sign and send the transaction, wait for its
//! receipt. One report after the other, like the transmitter. Against the
//! embedded EVM (revm in process) or a JSON-RPC node (anvil), with a freshly
//! deployed aggregator configured for n oracles.

use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::aliases::I192;
use alloy_primitives::{B256, keccak256};
use alloy_sol_types::{SolType, sol_data};
use anyhow::{Context, Result, bail};
use ocr_chain::{
    Chain, EmbeddedChain, PrivateKeySigner, RpcChain, RpcOptions, SetConfigArgs, TransmitCall, TxOutcome,
    encode_onchain_config, signer_from_bytes,
};
use ocr_core::attestation::AttestedReport;
use ocr_core::onchain::OnchainKey;
use ocr_plugin_sdk::ReportWithInfo;
use serde::Serialize;

use crate::bench::{Latency, percentile};

/// What to run.
#[derive(Clone, Debug)]
pub struct ChainBenchOptions {
    /// Oracles in the contract's config.
    pub nodes: u8,
    /// Reports to transmit.
    pub reports: u64,
    /// A JSON-RPC endpoint and a funded key; `None`: the embedded EVM.
    pub rpc: Option<(String, [u8; 32])>,
}

/// The result line.
#[derive(Clone, Debug, Serialize)]
pub struct ChainBenchReport {
    /// Which benchmark this line is.
    pub bench: &'static str,
    /// `embedded` or `rpc`.
    pub backend: &'static str,
    /// Oracles (f+1 signatures per report).
    pub nodes: u8,
    /// Reports transmitted and included.
    pub reports: u64,
    /// Included transmissions per second of the path's time, one after the
    /// other.
    pub reports_per_sec: f64,
    /// Attested report to receipt, per report.
    pub latency_ms: Latency,
    /// Mean gas per transmission.
    pub gas_per_report: f64,
}

fn secret(label: &str, i: usize) -> [u8; 32] {
    keccak256(format!("bench-chain/{label}/{i}")).0
}

/// A median report as the median plugin encodes it: `abi.encode(uint32
/// observationsTimestamp, bytes32 observers, int192[] observations, int192
/// juelsPerFeeCoin)`, observations ascending.
fn median_report(timestamp: u32, n: u8, seq_nr: u64) -> Result<Vec<u8>> {
    let mut observers = B256::ZERO;
    let mut values = Vec::new();
    for i in 0..n {
        observers.0[usize::from(i)] = i;
        // About 3,000 USD with 8 decimals, moving a little from report to report.
        let value = 300_000_000_000_i64 + (seq_nr % 1000) as i64 + i64::from(i);
        values.push(I192::try_from(value).context("observation out of range")?);
    }
    type Report =
        (sol_data::Uint<32>, sol_data::FixedBytes<32>, sol_data::Array<sol_data::Int<192>>, sol_data::Int<192>);
    Ok(Report::abi_encode_params(&(timestamp, observers, values, I192::try_from(7i64).context("juels")?)))
}

/// Runs the chain benchmark.
pub async fn run(options: &ChainBenchOptions) -> Result<ChainBenchReport> {
    let n = usize::from(options.nodes);
    if !(4..=31).contains(&n) {
        bail!("--nodes must be between 4 and 31");
    }
    let f = (options.nodes - 1) / 3;
    let (chain, owner, backend): (Arc<dyn Chain>, PrivateKeySigner, _) = match &options.rpc {
        None => (Arc::new(EmbeddedChain::new(31_337)), signer_from_bytes(&secret("owner", 0))?, "embedded"),
        Some((url, key)) => {
            let chain = RpcChain::connect(url, RpcOptions::default()).await.context("connecting to the RPC node")?;
            (Arc::new(chain), signer_from_bytes(key)?, "rpc")
        }
    };
    let signers: Vec<OnchainKey> =
        (0..n).map(|i| OnchainKey::from_bytes(&secret("signer", i))).collect::<Result<_, _>>()?;
    // The owner also transmits (it is the funded account), as oracle 0.
    let mut transmitters = vec![owner.address()];
    for i in 1..n {
        transmitters.push(signer_from_bytes(&secret("transmitter", i))?.address());
    }
    let contract = chain.deploy(&owner, 8, "ETH / USD").await.context("deploying the aggregator")?;
    let args = SetConfigArgs {
        signers: signers.iter().map(|k| k.address().into()).collect(),
        transmitters,
        f,
        onchain_config: encode_onchain_config(
            I192::try_from(0i64).context("min answer")?,
            I192::try_from(i64::MAX).context("max answer")?,
        ),
        offchain_config_version: 3,
        offchain_config: b"bench-chain".to_vec(),
    };
    chain.set_config(contract, &owner, &args).await.context("setting the config")?;
    let digest = chain.latest_config(contract).await?.context("no config after setConfig")?.digest();

    let mut latencies = Vec::new();
    let mut gas = 0u64;
    for seq_nr in 1..=options.reports {
        let timestamp = u32::try_from(1_700_000_000 + seq_nr).unwrap_or(u32::MAX);
        let report = median_report(timestamp, options.nodes, seq_nr)?;
        let signatures =
            (0..=f).map(|i| (i, signers[usize::from(i)].sign(&digest, seq_nr, &report).to_vec())).collect();
        let attested = AttestedReport {
            seq_nr,
            index: 0,
            report: ReportWithInfo { report, info: Vec::new() },
            signatures,
            schedule_override: None,
        };
        let sent = Instant::now();
        let call = TransmitCall::from_attested(&attested, &digest, f)?;
        match chain.transmit(contract, &call, &owner).await? {
            TxOutcome::Included(included) => gas += included.gas_used,
            other => bail!("report {seq_nr} was not included: {other:?}"),
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    // The path's own time: signing the reports is attestation's work.
    let path_seconds = latencies.iter().sum::<f64>() / 1000.0;
    latencies.sort_by(f64::total_cmp);
    Ok(ChainBenchReport {
        bench: "chain",
        backend,
        nodes: options.nodes,
        reports: options.reports,
        reports_per_sec: if path_seconds > 0.0 { options.reports as f64 / path_seconds } else { 0.0 },
        latency_ms: Latency { p50: percentile(&latencies, 0.5), p99: percentile(&latencies, 0.99) },
        gas_per_report: gas as f64 / options.reports.max(1) as f64,
    })
}
