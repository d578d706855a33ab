//! [`RpcChain`]: the aggregator on any EVM JSON-RPC endpoint, through an
//! alloy HTTP provider.
//!
//! Transactions are signed locally (EIP-1559) with the sender's secp256k1
//! key; nothing is delegated to the node's wallet. Guarantees:
//!
//! - one transaction in flight per `RpcChain`, so its nonces stay in order;
//!   the next nonce is fetched (`pending`) on first use and after any failed
//!   send, and on "nonce too low" it is refetched and the send retried (after
//!   checking that the transaction did not land already);
//! - gas is estimated first; an estimate that reverts is logged with its
//!   decoded reason and returned as [`TxOutcome::Reverted`] without sending;
//! - transient failures (connection refused, timeouts, HTTP 5xx/429) are
//!   retried with exponential backoff a bounded number of times
//!   ([`RpcOptions`]); the error after the last try is [`ChainError::Rpc`];
//! - a sent transaction's receipt is awaited at most `receipt_timeout`;
//! - [`Chain::transmit`] first reads `latestSeqNr()` and skips a report the
//!   contract already has.
//!
//! `https://` endpoints need the crate's `https` feature (on by default).

mod retry;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::{BlockId, Encodable2718};
use alloy::network::{TransactionBuilder, TxSignerSync};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::{Filter, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::http::reqwest::Url;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use async_trait::async_trait;

use crate::bindings::RevertReason;
use crate::chain::{Chain, ChainLog, Included, TxOutcome};
use crate::error::ChainError;
pub use retry::RpcOptions;
use retry::{error_message, revert_of};

/// The first wait for a receipt (then doubling up to the poll interval).
const FIRST_RECEIPT_POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// How many times a send is retried after "nonce too low".
const NONCE_RETRIES: u32 = 3;

/// The aggregator's chain behind a JSON-RPC endpoint.
pub struct RpcChain {
    provider: RootProvider,
    url: String,
    chain_id: u64,
    options: RpcOptions,
    /// Next nonce per sender; absent: fetch it.
    nonces: Mutex<HashMap<Address, u64>>,
    /// Held for a whole send, so nonces are used in order.
    send_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RpcChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcChain").field("url", &self.url).field("chain_id", &self.chain_id).finish_non_exhaustive()
    }
}

impl RpcChain {
    /// Connects to `url` (e.g. `http://127.0.0.1:8545`) and reads its chain id.
    pub async fn connect(url: &str, options: RpcOptions) -> Result<Self, ChainError> {
        let parsed =
            Url::parse(url).map_err(|e| ChainError::InvalidUrl { url: url.to_owned(), message: e.to_string() })?;
        let provider = http_provider(parsed);
        let chain_id = options.retry("eth_chainId", || async { provider.get_chain_id().await }).await?;
        Ok(Self {
            provider,
            url: url.to_owned(),
            chain_id,
            options,
            nonces: Mutex::new(HashMap::new()),
            send_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn cached_nonce(&self, sender: Address) -> Option<u64> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner).get(&sender).copied()
    }

    fn set_nonce(&self, sender: Address, nonce: Option<u64>) {
        let mut nonces = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        match nonce {
            Some(nonce) => nonces.insert(sender, nonce),
            None => nonces.remove(&sender),
        };
    }

    async fn next_nonce(&self, sender: Address) -> Result<u64, ChainError> {
        if let Some(nonce) = self.cached_nonce(sender) {
            return Ok(nonce);
        }
        let provider = &self.provider;
        self.options
            .retry("eth_getTransactionCount", || async move { provider.get_transaction_count(sender).pending().await })
            .await
    }

    /// EIP-1559 fees, or the legacy gas price for both caps on an endpoint
    /// without `eth_feeHistory`.
    async fn fees(&self) -> Result<(u128, u128), ChainError> {
        let provider = &self.provider;
        match self.options.retry("eth_feeHistory", || async { provider.estimate_eip1559_fees().await }).await {
            Ok(fees) => Ok((fees.max_fee_per_gas, fees.max_priority_fee_per_gas)),
            Err(error) => {
                tracing::debug!(%error, "no EIP-1559 fee estimate, using eth_gasPrice");
                let price = self.options.retry("eth_gasPrice", || async { provider.get_gas_price().await }).await?;
                Ok((price, price))
            }
        }
    }

    async fn receipt(&self, tx_hash: B256) -> Result<Option<TransactionReceipt>, ChainError> {
        let provider = &self.provider;
        self.options
            .retry("eth_getTransactionReceipt", || async move { provider.get_transaction_receipt(tx_hash).await })
            .await
    }

    async fn wait_for_receipt(&self, tx_hash: B256) -> Result<TransactionReceipt, ChainError> {
        let deadline = Instant::now() + self.options.receipt_timeout;
        let mut wait = FIRST_RECEIPT_POLL.min(self.options.receipt_poll_interval);
        loop {
            if let Some(receipt) = self.receipt(tx_hash).await? {
                return Ok(receipt);
            }
            if Instant::now() >= deadline {
                return Err(ChainError::ReceiptTimeout { tx_hash, timeout: self.options.receipt_timeout });
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.options.receipt_poll_interval);
        }
    }

    /// Why a mined transaction reverted: replays it with `eth_call` on the
    /// state before its block (an approximation when other transactions of
    /// that block came first).
    async fn replay_revert(&self, request: &TransactionRequest, block_number: Option<u64>) -> RevertReason {
        let block = block_number.map_or(BlockId::latest(), |n| BlockId::number(n.saturating_sub(1)));
        let provider = &self.provider;
        let replay = self
            .options
            .retry("eth_call", || {
                let request = request.clone();
                async move { provider.call(request).block(block).await }
            })
            .await;
        match replay {
            Err(error) => revert_of(&error).unwrap_or_else(|| RevertReason::new(Vec::new())),
            Ok(_) => RevertReason::new(Vec::new()),
        }
    }

    /// Signs and sends with nonce management; returns the hash.
    async fn sign_and_send(&self, from: &PrivateKeySigner, mut tx: TxEip1559) -> Result<B256, ChainError> {
        let sender = from.address();
        let mut attempt = 0;
        loop {
            attempt += 1;
            tx.nonce = self.next_nonce(sender).await?;
            let signature = from.sign_transaction_sync(&mut tx).map_err(|e| ChainError::Signing(e.to_string()))?;
            let signed = tx.clone().into_signed(signature);
            let tx_hash = *signed.hash();
            let encoded = TxEnvelope::from(signed).encoded_2718();
            let provider = &self.provider;
            let sent = self
                .options
                .retry("eth_sendRawTransaction", || async { provider.send_raw_transaction(&encoded).await })
                .await;
            let message = sent.as_ref().err().and_then(error_message).map(str::to_ascii_lowercase);
            match (sent, message) {
                (Ok(_), _) => {
                    self.set_nonce(sender, Some(tx.nonce + 1));
                    return Ok(tx_hash);
                }
                // A retried send whose first try reached the node.
                (Err(_), Some(m)) if m.contains("already known") || m.contains("already imported") => {
                    self.set_nonce(sender, Some(tx.nonce + 1));
                    return Ok(tx_hash);
                }
                (Err(error), Some(m)) if m.contains("nonce too low") => {
                    self.set_nonce(sender, None);
                    // Our own transaction may have landed (a retried send
                    // whose reply was lost): then that is the result.
                    if self.receipt(tx_hash).await?.is_some() {
                        return Ok(tx_hash);
                    }
                    if attempt >= NONCE_RETRIES {
                        return Err(error);
                    }
                    tracing::warn!(%sender, nonce = tx.nonce, "nonce too low, refetching");
                }
                (Err(error), _) => {
                    self.set_nonce(sender, None);
                    return Err(error);
                }
            }
        }
    }
}

/// An alloy HTTP provider for `url`, safe to build in any process.
///
/// reqwest's rustls is built without a crypto provider of its own (see the
/// `https` feature) and panics when a client is built before the process has
/// a default one; this installs ring first. Build every provider through here,
/// not with `RootProvider::new_http`, or whether it works depends on what else
/// in the process ran first.
#[allow(clippy::disallowed_methods)] // the one sanctioned call, after the install
pub fn http_provider(url: Url) -> RootProvider {
    install_tls_provider();
    RootProvider::new_http(url)
}

/// Installs ring as the process's rustls provider unless something else in
/// the process already installed one (any provider will do).
fn install_tls_provider() {
    #[cfg(feature = "https")]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[async_trait]
impl Chain for RpcChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        let provider = &self.provider;
        self.options.retry("eth_blockNumber", || async { provider.get_block_number().await }).await
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let request = TransactionRequest::default().with_to(to).with_input(data);
        let provider = &self.provider;
        let result = self
            .options
            .retry("eth_call", || {
                let request = request.clone();
                async move { provider.call(request).block(BlockId::latest()).await }
            })
            .await;
        result.map_err(|error| match revert_of(&error) {
            Some(reason) => ChainError::Reverted { what: "call", reason },
            None => error,
        })
    }

    async fn send(&self, from: &PrivateKeySigner, to: Option<Address>, data: Bytes) -> Result<TxOutcome, ChainError> {
        let _one_at_a_time = self.send_lock.lock().await;
        let kind = to.map_or(TxKind::Create, TxKind::Call);
        let request = TransactionRequest::default().with_from(from.address()).with_kind(kind).with_input(data.clone());

        let provider = &self.provider;
        let estimate = self
            .options
            .retry("eth_estimateGas", || {
                let request = request.clone();
                async move { provider.estimate_gas(request).await }
            })
            .await;
        let gas = match estimate {
            Ok(gas) => gas,
            Err(error) => {
                let Some(reason) = revert_of(&error) else { return Err(error) };
                tracing::warn!(%reason, from = %from.address(), "gas estimate reverted, not sending");
                return Ok(TxOutcome::Reverted { tx_hash: None, block_number: None, gas_used: 0, reason });
            }
        };
        let (max_fee_per_gas, max_priority_fee_per_gas) = self.fees().await?;
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: 0, // set by sign_and_send
            gas_limit: gas.saturating_add(gas.saturating_mul(self.options.gas_margin_percent) / 100),
            max_fee_per_gas,
            max_priority_fee_per_gas,
            to: kind,
            value: U256::ZERO,
            access_list: Default::default(),
            input: data,
        };
        let tx_hash = self.sign_and_send(from, tx).await?;
        let receipt = self.wait_for_receipt(tx_hash).await?;
        if receipt.status() {
            return Ok(TxOutcome::Included(Included {
                tx_hash,
                block_number: receipt.block_number.unwrap_or_default(),
                gas_used: receipt.gas_used,
                contract_address: receipt.contract_address,
            }));
        }
        let reason = self.replay_revert(&request, receipt.block_number).await;
        tracing::warn!(%tx_hash, %reason, "transaction reverted onchain");
        Ok(TxOutcome::Reverted {
            tx_hash: Some(tx_hash),
            block_number: receipt.block_number,
            gas_used: receipt.gas_used,
            reason,
        })
    }

    async fn logs(
        &self,
        contract: Address,
        topic0: B256,
        from_block: u64,
        to_block: Option<u64>,
    ) -> Result<Vec<ChainLog>, ChainError> {
        let mut filter = Filter::new().address(contract).event_signature(topic0).from_block(from_block);
        if let Some(to_block) = to_block {
            filter = filter.to_block(to_block);
        }
        let provider = &self.provider;
        let logs = self.options.retry("eth_getLogs", || async { provider.get_logs(&filter).await }).await?;
        Ok(logs
            .into_iter()
            // Removed (reorged-out) and pending logs are not part of the chain.
            .filter(|log| !log.removed)
            .filter_map(|log| {
                Some(ChainLog { block_number: log.block_number?, address: log.inner.address, data: log.inner.data })
            })
            .collect())
    }
}
