//! [`EmbeddedChain`]: an in-process EVM (revm, Cancun rules) that runs the
//! aggregator's real bytecode, so the node and its tests need no external
//! chain. It is the no-setup default of the demo.
//!
//! What it models: one transaction per block, the block number advancing by
//! one and the timestamp by at least one second per transaction (never
//! behind the wall clock), nonces, gas accounting and receipts' `gasUsed`,
//! reverted transactions that are still mined (their nonce is used, their
//! logs dropped), and the logs of successful ones kept in memory for
//! `eth_getLogs`-style queries. What it does not: fees (the base fee and gas
//! price are zero, so nobody pays; senders are nonetheless funded with
//! [`DEFAULT_BALANCE`] on first use), signatures on transactions (the sender
//! is taken from the key's address), reorgs and persistence.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::signers::local::PrivateKeySigner;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use async_trait::async_trait;
use revm::context::result::{ExecutionResult, Output};
use revm::context::{BlockEnv, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::handler::{MainnetContext, MainnetEvm};
use revm::primitives::hardfork::SpecId;
use revm::state::AccountInfo;
use revm::{DatabaseRef, ExecuteCommitEvm, ExecuteEvm, MainBuilder};

use crate::bindings::RevertReason;
use crate::chain::{Chain, ChainLog, Included, TxOutcome};
use crate::error::ChainError;

/// Balance given to an account the first time it sends: 1000 ether.
pub const DEFAULT_BALANCE: U256 = U256::from_limbs([0x35c9_adc5_dea0_0000, 0x36, 0, 0]);

/// Gas limit of every transaction and call (well above a 31-oracle transmit).
pub const GAS_LIMIT: u64 = 30_000_000;

type Db = CacheDB<EmptyDB>;

// Only the database persists between transactions: revm's `Evm` is not
// `Send` (it holds `Rc`s and raw pointers), and building one is cheap.
struct State {
    db: Db,
    block_number: u64,
    timestamp: u64,
    logs: Vec<ChainLog>,
}

/// An in-process EVM chain running the aggregator bytecode.
pub struct EmbeddedChain {
    chain_id: u64,
    state: Mutex<State>,
}

impl std::fmt::Debug for EmbeddedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("EmbeddedChain")
            .field("chain_id", &self.chain_id)
            .field("block_number", &state.block_number)
            .field("logs", &state.logs.len())
            .finish()
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl EmbeddedChain {
    /// An empty chain with this chain id at block 0.
    pub fn new(chain_id: u64) -> Self {
        let state = State { db: Db::default(), block_number: 0, timestamp: now_secs(), logs: Vec::new() };
        Self { chain_id, state: Mutex::new(state) }
    }

    // Every critical section leaves the state consistent (the EVM commits
    // or discards whole transactions), so a panic elsewhere while the lock
    // was held does not make the state unusable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets an account's balance.
    pub fn fund(&self, account: Address, balance: U256) {
        let mut state = self.lock();
        let db = &mut state.db;
        let mut info = account_info(db, account);
        info.balance = balance;
        db.insert_account_info(account, info);
    }

    /// An account's balance.
    pub fn balance(&self, account: Address) -> U256 {
        account_info(&self.lock().db, account).balance
    }

    /// An account's nonce.
    pub fn nonce(&self, account: Address) -> u64 {
        account_info(&self.lock().db, account).nonce
    }

    /// The runtime code at `account` (empty for an account without code).
    pub fn code(&self, account: Address) -> Vec<u8> {
        let state = self.lock();
        let info = account_info(&state.db, account);
        match info.code {
            Some(code) => code.original_bytes().to_vec(),
            None => {
                state.db.code_by_hash_ref(info.code_hash).map(|code| code.original_bytes().to_vec()).unwrap_or_default()
            }
        }
    }

    /// Executes a transaction from `from` in a new block and commits it.
    fn execute(&self, from: Address, to: Option<Address>, data: Bytes) -> Result<TxOutcome, ChainError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let db = &mut state.db;
        let mut sender = account_info(db, from);
        if sender.nonce == 0 && sender.balance.is_zero() {
            sender.balance = DEFAULT_BALANCE;
            db.insert_account_info(from, sender.clone());
        }
        let nonce = sender.nonce;

        let block_number = state.block_number + 1;
        let timestamp = now_secs().max(state.timestamp + 1);
        let tx = TxEnv {
            caller: from,
            kind: to.map_or(TxKind::Create, TxKind::Call),
            data,
            nonce,
            gas_limit: GAS_LIMIT,
            gas_price: 0,
            chain_id: Some(self.chain_id),
            ..TxEnv::default()
        };
        // Invalid transactions (bad nonce, gas) are not mined: the block
        // number stays.
        let mut evm = evm(&mut state.db, self.chain_id, block_env(block_number, timestamp));
        let result = evm.transact_commit(tx).map_err(|e| ChainError::Evm(e.to_string()))?;
        state.block_number = block_number;
        state.timestamp = timestamp;

        let mut preimage = Vec::with_capacity(56);
        preimage.extend_from_slice(&self.chain_id.to_be_bytes());
        preimage.extend_from_slice(from.as_slice());
        preimage.extend_from_slice(&nonce.to_be_bytes());
        let tx_hash = keccak256(&preimage);

        Ok(match result {
            ExecutionResult::Success { gas, logs, output, .. } => {
                state.logs.extend(logs.into_iter().map(|log| ChainLog {
                    block_number,
                    address: log.address,
                    data: log.data,
                }));
                let contract_address = match output {
                    Output::Create(_, address) => address,
                    Output::Call(_) => None,
                };
                TxOutcome::Included(Included { tx_hash, block_number, gas_used: gas.tx_gas_used(), contract_address })
            }
            ExecutionResult::Revert { gas, output, .. } => TxOutcome::Reverted {
                tx_hash: Some(tx_hash),
                block_number: Some(block_number),
                gas_used: gas.tx_gas_used(),
                reason: RevertReason::new(output.to_vec()),
            },
            ExecutionResult::Halt { reason, gas, .. } => {
                tracing::warn!(?reason, %tx_hash, "transaction halted");
                TxOutcome::Reverted {
                    tx_hash: Some(tx_hash),
                    block_number: Some(block_number),
                    gas_used: gas.tx_gas_used(),
                    reason: RevertReason::new(Vec::new()),
                }
            }
        })
    }

    /// Executes a read-only call on the latest state, discarding its effects.
    fn view(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        // The zero address never sends (nobody has its key), so its nonce is
        // always 0 and a call from it never collides with a real account.
        let tx = TxEnv {
            caller: Address::ZERO,
            kind: TxKind::Call(to),
            data,
            nonce: 0,
            gas_limit: GAS_LIMIT,
            gas_price: 0,
            chain_id: Some(self.chain_id),
            ..TxEnv::default()
        };
        let block = block_env(state.block_number, state.timestamp);
        let result =
            evm(&mut state.db, self.chain_id, block).transact(tx).map_err(|e| ChainError::Evm(e.to_string()))?.result;
        match result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => {
                Err(ChainError::Reverted { what: "call", reason: RevertReason::new(output.to_vec()) })
            }
            ExecutionResult::Halt { reason, .. } => {
                Err(ChainError::Unexpected { what: "call", message: format!("halted: {reason:?}") })
            }
        }
    }
}

fn evm(db: &mut Db, chain_id: u64, block: BlockEnv) -> MainnetEvm<MainnetContext<&mut Db>> {
    MainnetContext::new(db, SpecId::CANCUN)
        .modify_cfg_chained(|cfg| cfg.chain_id = chain_id)
        .with_block(block)
        .build_mainnet()
}

fn block_env(number: u64, timestamp: u64) -> BlockEnv {
    BlockEnv {
        number: U256::from(number),
        timestamp: U256::from(timestamp),
        gas_limit: GAS_LIMIT,
        basefee: 0,
        ..BlockEnv::default()
    }
}

fn account_info(db: &Db, account: Address) -> AccountInfo {
    // CacheDB over EmptyDB cannot fail (its error type is Infallible).
    db.basic_ref(account).ok().flatten().unwrap_or_default()
}

#[async_trait]
impl Chain for EmbeddedChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.lock().block_number)
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        self.view(to, data)
    }

    async fn send(&self, from: &PrivateKeySigner, to: Option<Address>, data: Bytes) -> Result<TxOutcome, ChainError> {
        self.execute(from.address(), to, data)
    }

    async fn logs(
        &self,
        contract: Address,
        topic0: B256,
        from_block: u64,
        to_block: Option<u64>,
    ) -> Result<Vec<ChainLog>, ChainError> {
        let to_block = to_block.unwrap_or(u64::MAX);
        let state = self.lock();
        // Logs are appended in block order, so the range is a contiguous run.
        let start = state.logs.partition_point(|log| log.block_number < from_block);
        Ok(state.logs[start..]
            .iter()
            .take_while(|log| log.block_number <= to_block)
            .filter(|log| log.address == contract && log.data.topics().first() == Some(&topic0))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_balance_is_1000_ether() {
        assert_eq!(DEFAULT_BALANCE, U256::from(1000u64) * U256::from(10u64).pow(U256::from(18u64)));
    }

    #[test]
    fn chain_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<EmbeddedChain>();
    }
}
