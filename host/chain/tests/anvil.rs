#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `RpcChain` against a real JSON-RPC node: anvil from the contracts' pinned
//! npm toolchain (`cd contracts && npm ci`). Deploys with a funded anvil dev
//! key, sets the config, transmits a report and reads the round back; also
//! the estimate-time revert, the seq-nr pre-check and nonce recovery. Skipped
//! with a note when the anvil binary is missing. The retry test needs no
//! node.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::providers::Provider;
use alloy_primitives::{Address, I256, U256};
use common::{Oracles, median_report};
use ocr_chain::bindings::ContractError;
use ocr_chain::{
    Chain, ChainError, PrivateKeySigner, RpcChain, RpcOptions, TransmitCall, TxOutcome, http_provider,
    signer_from_bytes,
};

/// Anvil's first dev account (from the well-known "test … junk" mnemonic),
/// funded with 10 000 ether at genesis.
const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn anvil_binary() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    path.is_file().then_some(path)
}

/// A running anvil, killed on drop.
struct Anvil {
    child: Child,
    url: String,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_anvil(binary: &PathBuf) -> Anvil {
    let port = free_port();
    let child = Command::new(binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", "31337", "--silent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("anvil starts");
    let anvil = Anvil { child, url: format!("http://127.0.0.1:{port}") };
    let provider = http_provider(anvil.url.parse().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while provider.get_chain_id().await.is_err() {
        assert!(Instant::now() < deadline, "anvil did not answer on {}", anvil.url);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anvil
}

async fn fund(url: &str, account: Address) {
    let provider = http_provider(url.parse().unwrap());
    let wei = U256::from(10u64).pow(U256::from(20u64));
    let () = provider.raw_request("anvil_setBalance".into(), (account, wei)).await.unwrap();
}

fn owner() -> PrivateKeySigner {
    let key: [u8; 32] = alloy_primitives::hex::decode(ANVIL_KEY_0).unwrap().try_into().unwrap();
    signer_from_bytes(&key).unwrap()
}

fn options() -> RpcOptions {
    RpcOptions { receipt_poll_interval: Duration::from_millis(20), ..RpcOptions::default() }
}

#[tokio::test]
async fn transmits_through_rpc_to_anvil() {
    let Some(binary) = anvil_binary() else {
        println!("NOTE: anvil not found under contracts/node_modules; run `cd contracts && npm ci`. Skipping.");
        return;
    };
    let anvil = start_anvil(&binary).await;
    let chain = RpcChain::connect(&anvil.url, options()).await.unwrap();
    assert_eq!(chain.chain_id(), 31_337);

    let contract = chain.deploy(&owner(), 8, "ETH / USD").await.unwrap();
    let oracles = Oracles::new(4, 1, 4);
    for transmitter in &oracles.transmitters {
        fund(&anvil.url, transmitter.address()).await;
    }
    let included = chain.set_config(contract, &owner(), &oracles.config_args()).await.unwrap();
    assert!(included.gas_used > 0);
    let config = chain.latest_config(contract).await.unwrap().unwrap();
    assert_eq!(config.chain_id, 31_337);
    assert_eq!(config.contract, contract.into_array());
    let digest = config.digest();
    assert_eq!(chain.latest_round_data(contract).await.unwrap(), None);

    let start = chain.block_number().await.unwrap();
    let report = median_report(1_700_000_000, &[(0, 1500), (1, 1400), (3, 1600)], 1);
    let attested = oracles.attested(&digest, 1, &report, &[0, 2]);
    let call = TransmitCall::from_attested(&attested, &digest, oracles.f).unwrap();
    let outcome = chain.transmit(contract, &call, &oracles.transmitters[2]).await.unwrap();
    let included = outcome.included().unwrap_or_else(|| panic!("not included: {outcome:?}"));
    println!("anvil transmit gas (n=4, 3 observations): {}", included.gas_used);

    let round = chain.latest_round_data(contract).await.unwrap().unwrap();
    assert_eq!(round.round_id, 1);
    assert_eq!(round.answer, I256::try_from(1500).unwrap());
    assert_eq!(round.started_at, 1_700_000_000);
    let events = chain.transmissions_since(contract, start).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].seq_nr, 1);
    assert_eq!(events[0].transmitter, oracles.transmitters[2].address());

    // Again: skipped by the pre-check, nothing sent.
    let block = chain.block_number().await.unwrap();
    assert_eq!(
        chain.transmit(contract, &call, &oracles.transmitters[3]).await.unwrap(),
        TxOutcome::AlreadyOnChain { latest_seq_nr: 1 }
    );
    // A stranger's transmission reverts in the gas estimate: not sent.
    let stranger = signer_from_bytes(&[5; 32]).unwrap();
    fund(&anvil.url, stranger.address()).await;
    let call2 = oracles.transmit_call(&digest, 2, &report);
    let outcome = chain.transmit(contract, &call2, &stranger).await.unwrap();
    match &outcome {
        TxOutcome::Reverted { tx_hash: None, reason, .. } => {
            assert!(matches!(reason.error(), Some(ContractError::UnauthorizedTransmitter(_))), "{reason}");
        }
        other => panic!("expected an estimate-time revert, got {other:?}"),
    }
    assert_eq!(chain.block_number().await.unwrap(), block, "nothing was mined");

    // Another client uses the transmitter's next nonce behind our back:
    // the cached nonce is too low, refetched, and the send goes through.
    let other = RpcChain::connect(&anvil.url, options()).await.unwrap();
    let call3 = oracles.transmit_call(&digest, 3, &report);
    assert!(other.transmit(contract, &call2, &oracles.transmitters[2]).await.unwrap().included().is_some());
    let outcome = chain.transmit(contract, &call3, &oracles.transmitters[2]).await.unwrap();
    assert!(outcome.included().is_some(), "{outcome:?}");
    assert_eq!(chain.latest_seq_nr(contract).await.unwrap(), 3);
}

#[tokio::test]
async fn unreachable_endpoint_is_retried_then_fails() {
    let port = free_port(); // bound then released: nothing listens there
    let options = RpcOptions {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        ..RpcOptions::default()
    };
    let started = Instant::now();
    match RpcChain::connect(&format!("http://127.0.0.1:{port}"), options).await {
        Err(ChainError::Rpc { method: "eth_chainId", attempts: 3, .. }) => {}
        other => panic!("expected an RPC failure after 3 attempts, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(30), "backed off between attempts");
    // The TLS stack initialises (ring as the process provider) and fails the
    // same way instead of panicking.
    let https = RpcOptions { max_attempts: 1, ..RpcOptions::default() };
    match RpcChain::connect(&format!("https://127.0.0.1:{port}"), https).await {
        Err(ChainError::Rpc { attempts: 1, .. }) => {}
        other => panic!("expected an RPC failure, got {other:?}"),
    }
    assert!(matches!(RpcChain::connect("not a url", RpcOptions::default()).await, Err(ChainError::InvalidUrl { .. })));
}
