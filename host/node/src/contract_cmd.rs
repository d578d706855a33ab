//! `ocr-node contract deploy` and `ocr-node contract set-config`: put the
//! aggregator on a chain and give it a network's config, from the same
//! network TOML the nodes use. Keys for these owner actions are read as hex
//! from a file or an environment variable (development chains such as
//! anvil hand them out that way).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ocr_chain::{Address, Chain, PrivateKeySigner, RpcChain, RpcOptions};
use ocr_node::config::network::NetworkConfig;

/// Where the owner's key comes from.
#[derive(Args)]
pub struct OwnerKey {
    /// A file holding the owner's private key (hex).
    #[arg(long, conflicts_with = "owner_key_env")]
    pub owner_key_file: Option<PathBuf>,
    /// An environment variable holding the owner's private key (hex).
    #[arg(long)]
    pub owner_key_env: Option<String>,
}

impl OwnerKey {
    fn signer(&self) -> Result<PrivateKeySigner> {
        let text = match (&self.owner_key_file, &self.owner_key_env) {
            (Some(file), None) => {
                std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
            }
            (None, Some(var)) => std::env::var(var).with_context(|| format!("environment variable {var}"))?,
            _ => bail!("give the owner's key with --owner-key-file or --owner-key-env"),
        };
        let bytes = hex::decode(text.trim().trim_start_matches("0x")).context("the owner key is not hex")?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| anyhow::anyhow!("the owner key is not 32 bytes"))?;
        Ok(ocr_chain::signer_from_bytes(&key)?)
    }
}

/// `ocr-node contract ...`.
#[derive(Subcommand)]
pub enum ContractCommand {
    /// Deploy the aggregator; prints its address.
    Deploy {
        /// JSON-RPC endpoint.
        #[arg(long)]
        rpc_url: String,
        #[command(flatten)]
        owner: OwnerKey,
        /// Decimals of the answer.
        #[arg(long, default_value_t = 8)]
        decimals: u8,
        /// Description (e.g. "ETH / USD").
        #[arg(long, default_value = "ETH / USD")]
        description: String,
    },
    /// Set a network's config on the aggregator; prints the digest.
    SetConfig {
        /// JSON-RPC endpoint.
        #[arg(long)]
        rpc_url: String,
        /// The aggregator.
        #[arg(long)]
        contract: Address,
        #[command(flatten)]
        owner: OwnerKey,
        /// The network TOML (from `ocr-node network init`).
        #[arg(long)]
        network_config: PathBuf,
    },
}

/// Runs a contract command.
pub fn run(command: ContractCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match command {
            ContractCommand::Deploy { rpc_url, owner, decimals, description } => {
                let chain = RpcChain::connect(&rpc_url, RpcOptions::default()).await?;
                let address = chain.deploy(&owner.signer()?, decimals, &description).await?;
                println!("{address}");
                Ok(())
            }
            ContractCommand::SetConfig { rpc_url, contract, owner, network_config } => {
                let chain = RpcChain::connect(&rpc_url, RpcOptions::default()).await?;
                let text = std::fs::read_to_string(&network_config)
                    .with_context(|| format!("reading {}", network_config.display()))?;
                let network: NetworkConfig = toml::from_str(&text)
                    .with_context(|| format!("{}: not a network config", network_config.display()))?;
                let args = ocr_node::chain_setup::set_config_args(&network)?;
                chain.set_config(contract, &owner.signer()?, &args).await?;
                let config = chain.latest_config(contract).await?.context("no config after setConfig")?;
                println!("0x{}", hex::encode(config.digest().0));
                Ok(())
            }
        }
    })
}
