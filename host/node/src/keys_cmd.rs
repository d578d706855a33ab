//! `ocr-node keys ...`: make the oracle's keys and show their public parts.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rand::TryRngCore as _;

use crate::keys::{KdfCost, KeyError, NodeKeys, PasswordSource, SaveOptions};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate the four oracle keys (offchain, peer, onchain, transmitter),
    /// save them encrypted into DIR and print their public parts as JSON.
    Generate {
        #[command(flatten)]
        keys: KeyDirArgs,
        /// Replace existing key files. The keys in them are lost for good.
        #[arg(long)]
        force: bool,
        /// Encrypt with geth's light scrypt cost: fast to open, and as fast to
        /// guess the password of. For test networks only.
        #[arg(long)]
        light_kdf: bool,
    },
    /// Decrypt the keys in DIR and print their public parts as JSON.
    Show {
        #[command(flatten)]
        keys: KeyDirArgs,
    },
}

/// Where the keys are and how to open them; shared by every command that
/// needs the keys.
#[derive(Args)]
pub struct KeyDirArgs {
    /// The key directory (offchain.json, peer.json, onchain.json, transmitter.json).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub password: PasswordArgs,
}

/// Exactly one source for the keys' password.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct PasswordArgs {
    /// Read the keys' password from FILE (one trailing newline is dropped).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Read the keys' password from the environment variable VAR.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

impl PasswordArgs {
    /// The password source the flags name.
    pub fn source(&self) -> Result<PasswordSource> {
        match (&self.password_file, &self.password_env) {
            (Some(file), None) => Ok(PasswordSource::File(file.clone())),
            (None, Some(var)) => Ok(PasswordSource::Env(var.clone())),
            _ => bail!("give exactly one of --password-file and --password-env"),
        }
    }
}

pub fn run(command: KeysCommand) -> Result<()> {
    let keys = match command {
        KeysCommand::Generate { keys: args, force, light_kdf } => {
            // Read the password first: a typo in its flag should cost nothing.
            let password = args.password.source()?.read()?;
            let keys = NodeKeys::generate(&mut rand::rngs::OsRng.unwrap_err()).context("cannot generate keys")?;
            let options =
                SaveOptions { overwrite: force, kdf: if light_kdf { KdfCost::Light } else { KdfCost::Standard } };
            match keys.save_with(&args.dir, &password, &options) {
                Ok(()) => {}
                Err(e @ KeyError::AlreadyExists { .. }) => {
                    bail!("cannot save keys: {e}; pass --force to replace the keys in {}", args.dir.display())
                }
                Err(e) => return Err(e).context("cannot save keys"),
            }
            eprintln!("saved 4 encrypted key files in {}; back up the directory and its password", args.dir.display());
            keys
        }
        KeysCommand::Show { keys: args } => {
            let password = args.password.source()?.read()?;
            NodeKeys::load(&args.dir, &password).context("cannot open keys")?
        }
    };
    println!("{}", serde_json::to_string_pretty(&keys.public())?);
    Ok(())
}
