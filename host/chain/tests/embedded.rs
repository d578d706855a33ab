#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The aggregator on the embedded EVM: deployment, config round trip and
//! digest, accepted and rejected transmissions with decoded reasons, the
//! transmit pre-check, events, and transmit gas for n = 4, 10, 31.

mod common;

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, I256};
use alloy_sol_types::{SolCall, SolEvent};
use async_trait::async_trait;
use common::{Oracles, median_report, owner};
use ocr_chain::bindings::{ContractError, OCR3MedianAggregator as Aggregator};
use ocr_chain::{
    Chain, ChainError, ChainLog, EmbeddedChain, PrivateKeySigner, SetConfigArgs, TransmitCall, TxOutcome,
    signer_from_bytes,
};
use ocr_plugin_sdk::ConfigDigest;

const CHAIN_ID: u64 = 31_337;

struct Setup {
    chain: Arc<EmbeddedChain>,
    contract: Address,
    oracles: Oracles,
    digest: ConfigDigest,
}

async fn setup(n: usize, f: u8) -> Setup {
    let chain = Arc::new(EmbeddedChain::new(CHAIN_ID));
    let contract = chain.deploy(&owner(), 8, "ETH / USD").await.unwrap();
    let oracles = Oracles::new(n, f, n as u64);
    chain.set_config(contract, &owner(), &oracles.config_args()).await.unwrap();
    let config = chain.latest_config(contract).await.unwrap().expect("a config after setConfig");
    Setup { digest: config.digest(), chain, contract, oracles }
}

async fn view<C: SolCall>(chain: &dyn Chain, contract: Address, call: C) -> C::Return {
    C::abi_decode_returns(&chain.call(contract, call.abi_encode().into()).await.unwrap()).unwrap()
}

fn reason(outcome: &TxOutcome) -> ContractError {
    outcome.revert_reason().and_then(|r| r.error()).unwrap_or_else(|| panic!("expected a revert, got {outcome:?}"))
}

#[tokio::test]
async fn deploys_the_artifact_bytecode() {
    let chain = EmbeddedChain::new(CHAIN_ID);
    let contract = chain.deploy(&owner(), 8, "ETH / USD").await.unwrap();
    assert_eq!(view(&chain, contract, Aggregator::decimalsCall {}).await, 8);
    assert_eq!(view(&chain, contract, Aggregator::descriptionCall {}).await, "ETH / USD");
    assert_eq!(view(&chain, contract, Aggregator::ownerCall {}).await, owner().address());
    assert_eq!(chain.latest_config(contract).await.unwrap(), None);
    assert_eq!(chain.latest_seq_nr(contract).await.unwrap(), 0);
    assert_eq!(chain.latest_round_data(contract).await.unwrap(), None);

    // The runtime code is the artifact's deployedBytecode with the
    // immutables (owner, decimals) filled in at the artifact's offsets.
    let artifact: serde_json::Value = serde_json::from_str(ocr_chain::bindings::ARTIFACT_JSON).unwrap();
    let mut expected = Aggregator::DEPLOYED_BYTECODE.to_vec();
    let code = chain.code(contract);
    assert_eq!(code.len(), expected.len());
    for references in artifact["immutableReferences"].as_object().unwrap().values() {
        for reference in references.as_array().unwrap() {
            let start = reference["start"].as_u64().unwrap() as usize;
            let length = reference["length"].as_u64().unwrap() as usize;
            expected[start..start + length].copy_from_slice(&code[start..start + length]);
        }
    }
    assert_eq!(code, expected);
}

#[tokio::test]
async fn config_round_trips_with_the_core_digest() {
    let s = setup(4, 1).await;
    let config = s.chain.latest_config(s.contract).await.unwrap().unwrap();
    let args = s.oracles.config_args();
    assert_eq!(config.chain_id, CHAIN_ID);
    assert_eq!(config.contract, s.contract.into_array());
    assert_eq!(config.config_count, 1);
    assert_eq!(config.signers, args.signers.iter().map(|a| a.into_array()).collect::<Vec<_>>());
    assert_eq!(config.transmitters, args.transmitters.iter().map(|a| a.into_array()).collect::<Vec<_>>());
    assert_eq!(config.f, 1);
    assert_eq!(config.onchain_config, args.onchain_config);
    assert_eq!(config.offchain_config_version, 3);
    assert_eq!(config.offchain_config, args.offchain_config);
    let details = view(&*s.chain, s.contract, Aggregator::latestConfigDetailsCall {}).await;
    assert_eq!(details.configDigest.0, config.digest().0);
    assert_eq!(&config.digest().0[..2], &[0x00, 0x01]);

    // A second config: count 2, a new digest, seq-nrs restart.
    let oracles = Oracles::new(7, 2, 99);
    s.chain.set_config(s.contract, &owner(), &oracles.config_args()).await.unwrap();
    let second = s.chain.latest_config(s.contract).await.unwrap().unwrap();
    assert_eq!(second.config_count, 2);
    assert_eq!(second.signers.len(), 7);
    assert_ne!(second.digest(), config.digest());
}

#[tokio::test]
async fn set_config_by_someone_else_or_invalid_is_a_typed_error() {
    let s = setup(4, 1).await;
    let stranger = signer_from_bytes(&[9; 32]).unwrap();
    let error = s.chain.set_config(s.contract, &stranger, &s.oracles.config_args()).await.unwrap_err();
    assert!(matches!(error.revert_reason().and_then(|r| r.error()), Some(ContractError::OnlyCallableByOwner(_))));
    assert_eq!(error.to_string(), format!("setConfig reverted: OnlyCallableByOwner(caller={})", stranger.address()));

    let mut too_faulty = s.oracles.config_args();
    too_faulty.f = 2;
    let error = s.chain.set_config(s.contract, &owner(), &too_faulty).await.unwrap_err();
    assert_eq!(error.revert_reason().unwrap().to_string(), "FaultToleranceTooHigh(numOracles=4, f=2)");
}

#[tokio::test]
async fn attested_report_updates_the_round() {
    let s = setup(4, 1).await;
    let start_block = s.chain.block_number().await.unwrap();
    // Three observations (f+1 ≤ 3 ≤ n), signed by oracles 2 and 3, the
    // attestation layer handing over one more signature than needed.
    let report = median_report(1_700_000_000, &[(0, 250), (2, 100), (3, 300)], 42);
    let attested = s.oracles.attested(&s.digest, 1, &report, &[3, 1, 2]);
    let call = TransmitCall::from_attested(&attested, &s.digest, s.oracles.f).unwrap();
    assert_eq!(call.signers, vec![1, 2]);
    let outcome = s.chain.transmit(s.contract, &call, &s.oracles.transmitters[1]).await.unwrap();
    let included = outcome.included().unwrap_or_else(|| panic!("not included: {outcome:?}"));
    println!("transmit gas (n=4, f=1, 3 observations): {}", included.gas_used);

    let round = s.chain.latest_round_data(s.contract).await.unwrap().unwrap();
    assert_eq!(round.round_id, 1);
    assert_eq!(round.answer, I256::try_from(250).unwrap());
    assert_eq!(round.started_at, 1_700_000_000);
    assert!(round.updated_at > 0);
    assert_eq!(s.chain.latest_seq_nr(s.contract).await.unwrap(), 1);

    let events = s.chain.transmissions_since(s.contract, start_block).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.seq_nr, 1);
    assert_eq!(event.round_id, 1);
    assert_eq!(event.answer, 250.try_into().unwrap());
    assert_eq!(event.transmitter, s.oracles.transmitters[1].address());
    assert_eq!(event.observers, vec![2, 0, 3]);
    assert_eq!(event.observations.len(), 3);
    assert_eq!(event.juels_per_fee_coin, 42.try_into().unwrap());
    assert_eq!(event.config_digest, s.digest);
    assert_eq!(event.block_number, included.block_number);

    // Nothing after that block.
    assert!(s.chain.transmissions_since(s.contract, included.block_number + 1).await.unwrap().is_empty());
}

#[tokio::test]
async fn tampered_report_is_rejected() {
    let s = setup(4, 1).await;
    let report = s.oracles.report(1_700_000_000, 3);
    let mut call = s.oracles.transmit_call(&s.digest, 1, &report);
    // Raise the median after signing: the signatures recover other keys.
    call.report = s.oracles.report(1_700_000_000, 4);
    let outcome = s.chain.transmit(s.contract, &call, &s.oracles.transmitters[0]).await.unwrap();
    assert!(matches!(reason(&outcome), ContractError::UnauthorizedSigner(_)), "{outcome:?}");
    let text = outcome.revert_reason().unwrap().to_string();
    assert!(text.starts_with("UnauthorizedSigner(index=0, recovered=0x"), "{text}");
    assert!(matches!(outcome, TxOutcome::Reverted { tx_hash: Some(_), gas_used, .. } if gas_used > 21_000));
    assert_eq!(s.chain.latest_round_data(s.contract).await.unwrap(), None);
}

#[tokio::test]
async fn signature_from_outside_the_config_is_rejected() {
    let s = setup(4, 1).await;
    let outsiders = Oracles::new(4, 1, 12_345);
    let report = s.oracles.report(1_700_000_000, 3);
    let mut signatures = s.oracles.sign(&s.digest, 1, &report, &[0]);
    signatures.extend(outsiders.sign(&s.digest, 1, &report, &[1]));
    let call = TransmitCall::new(&s.digest, 1, &report, &signatures, 1).unwrap();
    let outcome = s.chain.transmit(s.contract, &call, &s.oracles.transmitters[0]).await.unwrap();
    match reason(&outcome) {
        ContractError::UnauthorizedSigner(e) => {
            assert_eq!(e.index, alloy_primitives::U256::from(1));
            assert_eq!(e.recovered, Address::from(outsiders.signers[1].address()));
        }
        other => panic!("expected UnauthorizedSigner, got {other:?}"),
    }
}

#[tokio::test]
async fn stale_seq_nr_is_rejected_by_the_contract_and_skipped_by_the_pre_check() {
    let s = setup(4, 1).await;
    let report = s.oracles.report(1_700_000_000, 3);
    for seq_nr in [4, 5] {
        let call = s.oracles.transmit_call(&s.digest, seq_nr, &report);
        let outcome = s.chain.transmit(s.contract, &call, &s.oracles.transmitters[2]).await.unwrap();
        assert!(outcome.included().is_some(), "{outcome:?}");
    }
    // Sent anyway (bypassing the pre-check), the contract refuses it.
    let stale = s.oracles.transmit_call(&s.digest, 5, &report);
    let outcome = s.chain.send(&s.oracles.transmitters[2], Some(s.contract), stale.calldata().into()).await.unwrap();
    assert_eq!(outcome.revert_reason().unwrap().to_string(), "StaleSeqNr(latestSeqNr=5, seqNr=5)");
    let older = s.oracles.transmit_call(&s.digest, 3, &report);
    let outcome = s.chain.send(&s.oracles.transmitters[3], Some(s.contract), older.calldata().into()).await.unwrap();
    assert!(matches!(reason(&outcome), ContractError::StaleSeqNr(_)));

    // Through transmit, neither is sent.
    let block = s.chain.block_number().await.unwrap();
    for call in [&stale, &older] {
        let outcome = s.chain.transmit(s.contract, call, &s.oracles.transmitters[0]).await.unwrap();
        assert_eq!(outcome, TxOutcome::AlreadyOnChain { latest_seq_nr: 5 });
    }
    assert_eq!(s.chain.block_number().await.unwrap(), block, "nothing was mined");
}

#[tokio::test]
async fn wrong_transmitter_and_wrong_digest_are_rejected() {
    let s = setup(4, 1).await;
    let report = s.oracles.report(1_700_000_000, 2);
    let call = s.oracles.transmit_call(&s.digest, 1, &report);
    let stranger = signer_from_bytes(&[7; 32]).unwrap();
    let outcome = s.chain.transmit(s.contract, &call, &stranger).await.unwrap();
    assert_eq!(
        outcome.revert_reason().unwrap().to_string(),
        format!("UnauthorizedTransmitter(sender={})", stranger.address())
    );
    // A signer's account is not a transmitter either.
    let signer_account = signer_from_bytes(&common::secret("signer", 4, 0)).unwrap();
    assert_eq!(signer_account.address(), Address::from(s.oracles.signers[0].address()));
    let outcome = s.chain.transmit(s.contract, &call, &signer_account).await.unwrap();
    assert!(matches!(reason(&outcome), ContractError::UnauthorizedTransmitter(_)));

    let mut other = s.digest;
    other.0[31] ^= 1;
    let call = s.oracles.transmit_call(&other, 1, &report);
    let outcome = s.chain.transmit(s.contract, &call, &s.oracles.transmitters[0]).await.unwrap();
    assert!(matches!(reason(&outcome), ContractError::ConfigDigestMismatch(_)));
}

#[tokio::test]
async fn transmit_gas_by_committee_size() {
    for (n, f) in [(4usize, 1u8), (10, 3), (31, 10)] {
        let s = setup(n, f).await;
        // The largest report: one observation per oracle.
        let report = s.oracles.report(1_700_000_000, n);
        let mut gas = Vec::new();
        for seq_nr in 1..=3 {
            let call = s.oracles.transmit_call(&s.digest, seq_nr, &report);
            let outcome = s.chain.transmit(s.contract, &call, &s.oracles.transmitters[0]).await.unwrap();
            gas.push(outcome.included().expect("included").gas_used);
        }
        println!("transmit gas n={n} f={f} ({n} observations): first {}, then {}", gas[0], gas[2]);
        assert!(gas[2] < 1_000_000);
    }
}

/// A chain whose `ConfigSet` events were altered in transit (or a contract
/// hashing differently): the recomputed digest no longer matches.
struct TamperedEvents(EmbeddedChain);

#[async_trait]
impl Chain for TamperedEvents {
    fn chain_id(&self) -> u64 {
        self.0.chain_id()
    }
    async fn block_number(&self) -> Result<u64, ChainError> {
        self.0.block_number().await
    }
    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        self.0.call(to, data).await
    }
    async fn send(&self, from: &PrivateKeySigner, to: Option<Address>, data: Bytes) -> Result<TxOutcome, ChainError> {
        self.0.send(from, to, data).await
    }
    async fn logs(&self, c: Address, t: B256, from: u64, to: Option<u64>) -> Result<Vec<ChainLog>, ChainError> {
        let mut logs = self.0.logs(c, t, from, to).await?;
        for log in &mut logs {
            if let Ok(mut event) = Aggregator::ConfigSet::decode_log_data(&log.data) {
                event.offchainConfigVersion += 1;
                log.data = event.encode_log_data();
            }
        }
        Ok(logs)
    }
}

#[tokio::test]
async fn digest_mismatch_is_a_typed_error() {
    let chain: Arc<dyn Chain> = Arc::new(TamperedEvents(EmbeddedChain::new(CHAIN_ID)));
    let contract = chain.deploy(&owner(), 8, "x").await.unwrap();
    let args: SetConfigArgs = Oracles::new(4, 1, 1).config_args();
    chain.set_config(contract, &owner(), &args).await.unwrap();
    match chain.latest_config(contract).await {
        Err(ChainError::DigestMismatch { onchain, computed }) => assert_ne!(onchain, computed),
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
}
