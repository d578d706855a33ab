//! The EVM config digest (reference §11.5): keccak256 of the ABI-encoded
//! contract config with its first two bytes replaced by a prefix. The digest
//! names a protocol instance and domain-separates every signature in it, so
//! the node recomputes it from what the contract says and refuses a mismatch.

use alloy_primitives::{Address as EvmAddress, Bytes, U256, keccak256};
use alloy_sol_types::{SolType, sol_data};
use ocr_plugin_sdk::ConfigDigest;

use crate::config::Address;

/// The prefix of EVM digests computed this way (libocr's `ConfigDigestPrefixEVMSimple`).
pub const EVM_DIGEST_PREFIX: u16 = 0x0001;

/// What the aggregator contract stores for one config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractConfig {
    /// Chain id of the contract's chain.
    pub chain_id: u64,
    /// The contract's address.
    pub contract: Address,
    /// How many configs the contract has had (this one included).
    pub config_count: u64,
    /// Onchain signer addresses, by oracle id.
    pub signers: Vec<Address>,
    /// Transmitter accounts, by oracle id.
    pub transmitters: Vec<Address>,
    /// Maximum number of faulty oracles.
    pub f: u8,
    /// Onchain config bytes.
    pub onchain_config: Vec<u8>,
    /// Version of the offchain config encoding.
    pub offchain_config_version: u64,
    /// The encoded offchain config.
    pub offchain_config: Vec<u8>,
}

impl ContractConfig {
    /// The digest: `keccak256(abi.encode(chainId, contract, configCount,
    /// signers, transmitters, f, onchainConfig, offchainConfigVersion,
    /// offchainConfig))` with bytes 0..2 set to [`EVM_DIGEST_PREFIX`].
    pub fn digest(&self) -> ConfigDigest {
        let addresses = |list: &[Address]| list.iter().map(|a| EvmAddress::from(*a)).collect::<Vec<_>>();
        type Encoded = (
            sol_data::Uint<256>,
            sol_data::Address,
            sol_data::Uint<64>,
            sol_data::Array<sol_data::Address>,
            sol_data::Array<sol_data::Address>,
            sol_data::Uint<8>,
            sol_data::Bytes,
            sol_data::Uint<64>,
            sol_data::Bytes,
        );
        let encoded = Encoded::abi_encode_params(&(
            U256::from(self.chain_id),
            EvmAddress::from(self.contract),
            self.config_count,
            addresses(&self.signers),
            addresses(&self.transmitters),
            self.f,
            Bytes::copy_from_slice(&self.onchain_config),
            self.offchain_config_version,
            Bytes::copy_from_slice(&self.offchain_config),
        ));
        let mut digest = keccak256(&encoded).0;
        digest[..2].copy_from_slice(&EVM_DIGEST_PREFIX.to_be_bytes());
        ConfigDigest(digest)
    }
}
