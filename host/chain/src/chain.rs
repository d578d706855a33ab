//! The [`Chain`] trait: what the node needs from the chain the aggregator
//! lives on, with one implementation per backend ([`EmbeddedChain`] on revm,
//! [`RpcChain`] on JSON-RPC).
//!
//! A backend implements four primitives (call, send, logs, block number);
//! everything contract-specific (deploy, set_config, reading the config back
//! and checking its digest, the transmit pre-check, decoding events) is
//! written once here as provided methods, so both backends read and write the
//! contract identically. Revert data is always decoded with the contract's
//! error types, and nothing read from the chain can panic the node: bad
//! return data is a [`ChainError::Decode`].
//!
//! [`EmbeddedChain`]: crate::EmbeddedChain
//! [`RpcChain`]: crate::RpcChain

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::aliases::I192;
use alloy_primitives::{Address, B256, Bytes, I256, LogData};
use alloy_sol_types::{SolCall, SolConstructor, SolEvent};
use async_trait::async_trait;
use ocr_core::ContractConfig;
use ocr_plugin_sdk::ConfigDigest;

use crate::bindings::{OCR3MedianAggregator as Aggregator, RevertReason, is_no_data_present, saturating_u64};
use crate::error::ChainError;
use crate::transmit_call::TransmitCall;

/// A transaction that made it into a block and succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Included {
    /// Its hash (synthetic on the embedded chain).
    pub tx_hash: B256,
    /// The block it is in.
    pub block_number: u64,
    /// Gas it used (the receipt's `gasUsed`).
    pub gas_used: u64,
    /// The created contract, for a deployment.
    pub contract_address: Option<Address>,
}

/// What became of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxOutcome {
    /// Included and succeeded.
    Included(Included),
    /// Reverted, either onchain (`tx_hash` set, gas paid) or when estimating
    /// gas (not sent, `tx_hash` None).
    Reverted {
        /// The hash of the mined transaction, if it was sent.
        tx_hash: Option<B256>,
        /// Its block, if it was mined.
        block_number: Option<u64>,
        /// Gas it used (0 if it was not sent).
        gas_used: u64,
        /// Why, decoded with the contract's errors.
        reason: RevertReason,
    },
    /// Not sent: the contract already has this seq-nr or a later one.
    AlreadyOnChain {
        /// The contract's `latestSeqNr()`.
        latest_seq_nr: u64,
    },
}

impl TxOutcome {
    /// The inclusion, if the transaction succeeded.
    pub fn included(&self) -> Option<&Included> {
        match self {
            Self::Included(included) => Some(included),
            _ => None,
        }
    }

    /// The revert reason, if it reverted.
    pub fn revert_reason(&self) -> Option<&RevertReason> {
        match self {
            Self::Reverted { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Turns a revert into [`ChainError::Reverted`], for transactions that
    /// must succeed (deploy, setConfig).
    pub fn require_included(self, what: &'static str) -> Result<Included, ChainError> {
        match self {
            Self::Included(included) => Ok(included),
            Self::Reverted { reason, .. } => Err(ChainError::Reverted { what, reason }),
            Self::AlreadyOnChain { latest_seq_nr } => {
                Err(ChainError::Unexpected { what, message: format!("skipped, latestSeqNr = {latest_seq_nr}") })
            }
        }
    }
}

/// The arguments of `setConfig`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetConfigArgs {
    /// Onchain signer addresses, by oracle id.
    pub signers: Vec<Address>,
    /// Transmitter accounts, by oracle id.
    pub transmitters: Vec<Address>,
    /// Maximum number of faulty oracles (1 ≤ 3f < n).
    pub f: u8,
    /// The 49-byte onchain config (see [`encode_onchain_config`](crate::encode_onchain_config)).
    pub onchain_config: Vec<u8>,
    /// Version of the offchain config encoding.
    pub offchain_config_version: u64,
    /// The encoded offchain config.
    pub offchain_config: Vec<u8>,
}

impl SetConfigArgs {
    fn to_call(&self) -> Aggregator::setConfigCall {
        Aggregator::setConfigCall {
            signers: self.signers.clone(),
            transmitters: self.transmitters.clone(),
            f: self.f,
            onchainConfig: self.onchain_config.clone().into(),
            offchainConfigVersion: self.offchain_config_version,
            offchainConfig: self.offchain_config.clone().into(),
        }
    }
}

/// `latestRoundData()` (AggregatorV3Interface).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoundData {
    /// Round id (one per accepted report).
    pub round_id: u128,
    /// The median.
    pub answer: I256,
    /// The report's observations timestamp.
    pub started_at: u64,
    /// Block timestamp of the transmission.
    pub updated_at: u64,
    /// Equal to `round_id`.
    pub answered_in_round: u128,
}

/// One `NewTransmission` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmission {
    /// Block it was emitted in.
    pub block_number: u64,
    /// The aggregator round it created.
    pub round_id: u32,
    /// The median.
    pub answer: I192,
    /// Who transmitted it.
    pub transmitter: Address,
    /// The report's observations timestamp.
    pub observations_timestamp: u32,
    /// All observations in the report, ascending.
    pub observations: Vec<I192>,
    /// Oracle id of the observer of each observation.
    pub observers: Vec<u8>,
    /// The report's juels per fee coin.
    pub juels_per_fee_coin: I192,
    /// The config the report was signed under.
    pub config_digest: ConfigDigest,
    /// The report's seq-nr.
    pub seq_nr: u64,
}

/// A log the contract emitted, with the block it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLog {
    /// Block number.
    pub block_number: u64,
    /// The emitting contract.
    pub address: Address,
    /// Topics and data.
    pub data: LogData,
}

/// The chain the aggregator lives on. Object safe: hold it as `Arc<dyn Chain>`.
///
/// Implementors provide the primitives (`chain_id`, `block_number`, `call`,
/// `send`, `logs`); the contract methods are provided on top of them.
#[async_trait]
pub trait Chain: Send + Sync {
    /// The chain id (part of the config digest).
    fn chain_id(&self) -> u64;

    /// The latest block number.
    async fn block_number(&self) -> Result<u64, ChainError>;

    /// Executes a read-only call against the latest state. A revert is
    /// [`ChainError::Reverted`].
    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError>;

    /// Signs (or, on the embedded chain, just executes) and sends a
    /// transaction from `from` to `to` (None: create) and waits for its
    /// outcome. A revert is `Ok(TxOutcome::Reverted)`, not an error.
    async fn send(&self, from: &PrivateKeySigner, to: Option<Address>, data: Bytes) -> Result<TxOutcome, ChainError>;

    /// Logs emitted by `contract` with first topic `topic0`, in blocks
    /// `from_block..=to_block` (None: up to the latest), in chain order.
    async fn logs(
        &self,
        contract: Address,
        topic0: B256,
        from_block: u64,
        to_block: Option<u64>,
    ) -> Result<Vec<ChainLog>, ChainError>;

    /// Deploys the aggregator (the artifact's bytecode) owned by `owner`.
    async fn deploy(&self, owner: &PrivateKeySigner, decimals: u8, description: &str) -> Result<Address, ChainError> {
        let args = Aggregator::constructorCall { decimals_: decimals, description_: description.to_owned() };
        let mut code = Aggregator::BYTECODE.to_vec();
        code.extend_from_slice(&args.abi_encode());
        let included = self.send(owner, None, code.into()).await?.require_included("deploy")?;
        included.contract_address.ok_or(ChainError::Unexpected {
            what: "deploy",
            message: "the receipt names no contract address".to_owned(),
        })
    }

    /// `setConfig` from the owner; a revert is an error.
    async fn set_config(
        &self,
        contract: Address,
        owner: &PrivateKeySigner,
        args: &SetConfigArgs,
    ) -> Result<Included, ChainError> {
        let data = args.to_call().abi_encode();
        self.send(owner, Some(contract), data.into()).await?.require_included("setConfig")
    }

    /// The contract's current config, None before the first `setConfig`:
    /// `latestConfigDetails()` and the `ConfigSet` event of that block, with
    /// the digest recomputed and checked against the contract's.
    async fn latest_config(&self, contract: Address) -> Result<Option<ContractConfig>, ChainError> {
        let details = view(self, contract, Aggregator::latestConfigDetailsCall {}).await?;
        if details.configCount == 0 {
            return Ok(None);
        }
        let block = u64::from(details.blockNumber);
        let logs = self.logs(contract, Aggregator::ConfigSet::SIGNATURE_HASH, block, Some(block)).await?;
        let event = logs
            .iter()
            .rev()
            .filter(|log| log.address == contract)
            .filter_map(|log| Aggregator::ConfigSet::decode_log_data(&log.data).ok())
            .find(|event| event.configDigest == details.configDigest)
            .ok_or(ChainError::ConfigEventMissing { block, digest: details.configDigest })?;
        let config = ContractConfig {
            chain_id: self.chain_id(),
            contract: contract.into_array(),
            config_count: event.configCount,
            signers: event.signers.iter().map(|a| a.into_array()).collect(),
            transmitters: event.transmitters.iter().map(|a| a.into_array()).collect(),
            f: event.f,
            onchain_config: event.onchainConfig.to_vec(),
            offchain_config_version: event.offchainConfigVersion,
            offchain_config: event.offchainConfig.to_vec(),
        };
        let computed = B256::from(config.digest().0);
        if computed != details.configDigest {
            return Err(ChainError::DigestMismatch { onchain: details.configDigest, computed });
        }
        Ok(Some(config))
    }

    /// `latestSeqNr()`: the highest seq-nr accepted under the current config.
    async fn latest_seq_nr(&self, contract: Address) -> Result<u64, ChainError> {
        view(self, contract, Aggregator::latestSeqNrCall {}).await
    }

    /// `latestRoundData()`, None before the first accepted report.
    async fn latest_round_data(&self, contract: Address) -> Result<Option<RoundData>, ChainError> {
        match view(self, contract, Aggregator::latestRoundDataCall {}).await {
            Ok(round) => Ok(Some(RoundData {
                round_id: round.roundId.saturating_to(),
                answer: round.answer,
                started_at: saturating_u64(round.startedAt),
                updated_at: saturating_u64(round.updatedAt),
                answered_in_round: round.answeredInRound.saturating_to(),
            })),
            Err(ChainError::Reverted { reason, .. }) if is_no_data_present(&reason.data) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Transmits a report from a transmitter, unless the contract already
    /// has its seq-nr or a later one ([`TxOutcome::AlreadyOnChain`]: another
    /// oracle was faster). A revert is [`TxOutcome::Reverted`] with the
    /// contract's reason.
    async fn transmit(
        &self,
        contract: Address,
        call: &TransmitCall,
        from: &PrivateKeySigner,
    ) -> Result<TxOutcome, ChainError> {
        let latest_seq_nr = self.latest_seq_nr(contract).await?;
        if latest_seq_nr >= call.seq_nr {
            tracing::debug!(seq_nr = call.seq_nr, latest_seq_nr, "report already on chain, not transmitting");
            return Ok(TxOutcome::AlreadyOnChain { latest_seq_nr });
        }
        self.send(from, Some(contract), call.calldata().into()).await
    }

    /// `NewTransmission` events from `from_block` on, in chain order.
    async fn transmissions_since(&self, contract: Address, from_block: u64) -> Result<Vec<Transmission>, ChainError> {
        let logs = self.logs(contract, Aggregator::NewTransmission::SIGNATURE_HASH, from_block, None).await?;
        logs.iter()
            .filter(|log| log.address == contract)
            .map(|log| {
                let event = Aggregator::NewTransmission::decode_log_data(&log.data)
                    .map_err(|e| ChainError::Decode { what: "NewTransmission", message: e.to_string() })?;
                Ok(Transmission {
                    block_number: log.block_number,
                    round_id: event.aggregatorRoundId,
                    answer: event.answer,
                    transmitter: event.transmitter,
                    observations_timestamp: event.observationsTimestamp,
                    observations: event.observations,
                    observers: event.observers.to_vec(),
                    juels_per_fee_coin: event.juelsPerFeeCoin,
                    config_digest: ConfigDigest(event.configDigest.0),
                    seq_nr: event.seqNr,
                })
            })
            .collect()
    }
}

/// Calls a view and decodes its return value.
async fn view<C: Chain + ?Sized, F: SolCall + Send>(
    chain: &C,
    contract: Address,
    call: F,
) -> Result<F::Return, ChainError> {
    let output = chain.call(contract, call.abi_encode().into()).await?;
    F::abi_decode_returns(&output).map_err(|e| ChainError::Decode {
        what: F::SIGNATURE,
        message: if output.is_empty() {
            format!("empty return data (no contract at {contract}?)")
        } else {
            e.to_string()
        },
    })
}
