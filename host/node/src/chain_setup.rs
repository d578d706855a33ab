//! From a network config to the contract's `setConfig` arguments: the same
//! signers, transmitters, f and onchain config, and as offchain config the
//! canonical JSON the nodes read back and check.

use anyhow::Result;
use ocr_chain::{Address, SetConfigArgs};

use crate::config::network::{NetworkConfig, OFFCHAIN_CONFIG_VERSION};

/// The `setConfig` arguments for `network`.
pub fn set_config_args(network: &NetworkConfig) -> Result<SetConfigArgs> {
    let offchain_config = network.offchain_config().map_err(|(field, what)| anyhow::anyhow!("{field}: {what}"))?;
    let onchain_config = hex::decode(network.onchain_config.trim_start_matches("0x"))?;
    Ok(SetConfigArgs {
        signers: network.oracles.iter().map(|o| Address::from(o.onchain_signer.into_array())).collect(),
        transmitters: network.oracles.iter().map(|o| Address::from(o.transmitter.into_array())).collect(),
        f: network.f,
        onchain_config,
        offchain_config_version: OFFCHAIN_CONFIG_VERSION,
        offchain_config,
    })
}
