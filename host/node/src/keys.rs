//! The oracle's four long-lived secret keys, and how they are kept on disk.
//!
//! An OCR3 oracle holds four keys (protocol reference §12.1):
//!
//! | key         | algorithm | public form                   | used for                      |
//! |-------------|-----------|-------------------------------|-------------------------------|
//! | offchain    | Ed25519   | 32-byte public key            | every consensus signature     |
//! | peer        | Ed25519   | 32-byte public key (peer id)  | TLS identity of the node      |
//! | onchain     | secp256k1 | Ethereum address              | signing reports               |
//! | transmitter | secp256k1 | Ethereum address              | the account sending reports   |
//!
//! At rest they are one directory of four Ethereum JSON keystore v3 files,
//! `offchain.json`, `peer.json`, `onchain.json` and `transmitter.json`, each
//! encrypted with scrypt + AES-128-CTR under the same password. The format is
//! geth's, so `onchain.json` and `transmitter.json` open in ordinary Ethereum
//! tooling (geth, Foundry's `cast wallet`); two extra fields are ignored there:
//! `address` on the secp256k1 files (as geth writes it) and `ocr_key`, naming
//! which of the four keys a file holds so that swapped files are caught.
//!
//! What this module guarantees:
//! - secrets live only in types that zeroize themselves on drop, and `Debug`
//!   never prints them;
//! - key files are created with mode 0600 (on unix) in a directory created
//!   0700 if missing; existing files are never replaced unless the caller asks,
//!   and then each is replaced atomically (write a temporary file, rename);
//! - loading never panics on a damaged or forged file: every failure is a
//!   [`KeyError`] naming the file, and scrypt costs beyond [`MAX_SCRYPT_MEMORY`]
//!   are refused before any work, so a forged file cannot exhaust memory;
//! - a wrong password is told apart from a damaged file where the format
//!   allows: a MAC mismatch on one file while the same password opens another
//!   is reported as a damaged file, not as a wrong password.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use aes::cipher::{KeyIvInit as _, StreamCipher as _};
use alloy_primitives::{Address, Keccak256, keccak256};
use rand::{CryptoRng, RngCore, TryRngCore as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

/// The most memory scrypt may use to open a key file: 1 GiB, four times geth's
/// standard cost (2^18 × 8 × 128 bytes = 256 MiB).
pub const MAX_SCRYPT_MEMORY: u64 = 1 << 30;

/// The most work (memory × p) scrypt may do to open a key file, so a forged
/// `p` cannot keep the node busy for hours.
const MAX_SCRYPT_WORK: u64 = 1 << 32;

/// Key files are a few hundred bytes; anything much larger is not one, and
/// reading it whole would only waste memory.
const MAX_KEY_FILE_SIZE: u64 = 64 * 1024;

/// One of the oracle's four keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Ed25519 key signing consensus messages.
    Offchain,
    /// Ed25519 key identifying the node on the network (TLS).
    Peer,
    /// secp256k1 key signing reports for the contract.
    Onchain,
    /// secp256k1 account key sending transactions.
    Transmitter,
}

impl KeyKind {
    /// All four, in the order they are saved and loaded.
    pub const ALL: [KeyKind; 4] = [KeyKind::Offchain, KeyKind::Peer, KeyKind::Onchain, KeyKind::Transmitter];

    /// The key's file name inside the key directory.
    pub fn file_name(self) -> &'static str {
        match self {
            KeyKind::Offchain => "offchain.json",
            KeyKind::Peer => "peer.json",
            KeyKind::Onchain => "onchain.json",
            KeyKind::Transmitter => "transmitter.json",
        }
    }

    /// The short name used in messages and in the files' `ocr_key` field.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Offchain => "offchain",
            KeyKind::Peer => "peer",
            KeyKind::Onchain => "onchain",
            KeyKind::Transmitter => "transmitter",
        }
    }

    fn is_secp256k1(self) -> bool {
        matches!(self, KeyKind::Onchain | KeyKind::Transmitter)
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why keys could not be read, written or made. Every variant about a file
/// names it, so the message alone tells an operator what to fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file is not there.
    #[error("missing key file {}", .path.display())]
    MissingFile {
        /// The file that was expected.
        path: PathBuf,
    },
    /// A key file is not a keystore this module can read.
    #[error("corrupt key file {}: {reason}", .path.display())]
    CorruptFile {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The password does not open the key file.
    #[error("wrong password for {}", .path.display())]
    WrongPassword {
        /// The first file the password failed to open.
        path: PathBuf,
    },
    /// A secret is not a valid key of its kind: wrong length, a secp256k1
    /// scalar out of range, or a file holding another kind of key.
    #[error("invalid {kind} key{}: {reason}", in_file(.path.as_deref()))]
    InvalidKey {
        /// Which key.
        kind: KeyKind,
        /// The file it came from, if any.
        path: Option<PathBuf>,
        /// What is wrong with it.
        reason: String,
    },
    /// Saving would replace an existing key file.
    #[error("key file {} already exists", .path.display())]
    AlreadyExists {
        /// The existing file.
        path: PathBuf,
    },
    /// A password source gave an empty password.
    #[error("the password from {origin} is empty")]
    EmptyPassword {
        /// Where the password came from.
        origin: String,
    },
    /// The password environment variable is not set.
    #[error("environment variable {name} (the keys' password) is not set")]
    PasswordEnvMissing {
        /// The variable.
        name: String,
    },
    /// The password environment variable is not valid UTF-8.
    #[error("environment variable {name} (the keys' password) is not valid UTF-8")]
    PasswordEnvNotUnicode {
        /// The variable.
        name: String,
    },
    /// Reading or writing a file or directory failed.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// What was being done, e.g. "read password file".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The random number generator failed or is stuck.
    #[error("random number generator failed: {0}")]
    Randomness(String),
    /// scrypt refused to derive a key.
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

fn in_file(path: Option<&Path>) -> String {
    path.map(|p| format!(" in {}", p.display())).unwrap_or_default()
}

/// Where the password protecting the key files comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// A file holding the password; one trailing newline (`\n` or `\r\n`) is
    /// dropped, since editors and `echo` add one.
    File(PathBuf),
    /// An environment variable holding the password, used as is.
    Env(String),
}

impl PasswordSource {
    /// Reads the password. An empty password is refused: it would leave the
    /// keys as good as unencrypted.
    pub fn read(&self) -> Result<Zeroizing<String>, KeyError> {
        let password = match self {
            PasswordSource::File(path) => {
                let mut password = Zeroizing::new(fs::read_to_string(path).map_err(|source| KeyError::Io {
                    action: "read password file",
                    path: path.clone(),
                    source,
                })?);
                if password.ends_with('\n') {
                    password.pop();
                    if password.ends_with('\r') {
                        password.pop();
                    }
                }
                password
            }
            PasswordSource::Env(name) => match std::env::var(name) {
                Ok(value) => Zeroizing::new(value),
                Err(std::env::VarError::NotPresent) => {
                    return Err(KeyError::PasswordEnvMissing { name: name.clone() });
                }
                Err(std::env::VarError::NotUnicode(raw)) => {
                    raw.into_encoded_bytes().zeroize();
                    return Err(KeyError::PasswordEnvNotUnicode { name: name.clone() });
                }
            },
        };
        if password.is_empty() {
            return Err(KeyError::EmptyPassword { origin: self.to_string() });
        }
        Ok(password)
    }
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::File(path) => write!(f, "password file {}", path.display()),
            PasswordSource::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

/// How hard scrypt works when keys are saved. Loading reads the cost from
/// each file, so keys saved with either open the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KdfCost {
    /// geth's standard cost (N = 2^18, r = 8, p = 1): 256 MiB and about a
    /// second per file. For real keys.
    #[default]
    Standard,
    /// geth's `--lightkdf` cost (N = 2^12, r = 8, p = 6): milliseconds per
    /// file, and as much faster for anyone guessing the password. For test
    /// networks only.
    Light,
}

impl KdfCost {
    fn log_n_r_p(self) -> (u8, u32, u32) {
        match self {
            KdfCost::Standard => (18, 8, 1),
            KdfCost::Light => (12, 8, 6),
        }
    }
}

/// Options for [`NodeKeys::save_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaveOptions {
    /// Replace existing key files. Off by default: a replaced key is lost for
    /// good, and with it the oracle's identity and funds.
    pub overwrite: bool,
    /// The scrypt cost.
    pub kdf: KdfCost,
}

/// The oracle's four secret keys.
///
/// Every field zeroizes itself on drop (ed25519-dalek's and k256's signing
/// keys both implement [`ZeroizeOnDrop`]); the key types also guarantee the
/// secp256k1 secrets are valid scalars, so accessors cannot fail.
pub struct NodeKeys {
    offchain: ed25519_dalek::SigningKey,
    peer: ed25519_dalek::SigningKey,
    onchain: k256::ecdsa::SigningKey,
    transmitter: k256::ecdsa::SigningKey,
}

impl ZeroizeOnDrop for NodeKeys {}

/// The public halves of [`NodeKeys`]: what other oracles and the contract
/// configuration need to know about this oracle.
///
/// As JSON, the Ed25519 keys are 64 lowercase hex digits without a prefix and
/// the addresses are 0x-prefixed, EIP-55 checksummed hex:
///
/// ```json
/// {"offchain_public_key": "5f2c…", "peer_id": "a1b0…",
///  "onchain_address": "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf", "transmitter_address": "0x…"}
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicKeys {
    /// Ed25519 public key verifying this oracle's consensus signatures.
    #[serde(with = "hex32")]
    pub offchain_public_key: [u8; 32],
    /// Ed25519 public key of the peer (TLS) key: the oracle's network identity.
    #[serde(with = "hex32")]
    pub peer_id: [u8; 32],
    /// Ethereum address of the onchain (report-signing) key.
    #[serde(with = "checksummed")]
    pub onchain_address: Address,
    /// Ethereum address of the transmitter account.
    #[serde(with = "checksummed")]
    pub transmitter_address: Address,
}

impl NodeKeys {
    /// Makes four fresh keys from `rng`, which must be a cryptographically
    /// secure generator (the CLI uses the operating system's).
    ///
    /// Fails only if the generator is broken: it repeats itself, or keeps
    /// producing numbers that are not secp256k1 scalars (a chance of 2^-128
    /// each for a working one).
    pub fn generate<R: CryptoRng + RngCore + ?Sized>(rng: &mut R) -> Result<NodeKeys, KeyError> {
        let mut secrets = Zeroizing::new([[0u8; 32]; 4]);
        for secret in secrets.iter_mut() {
            rng.fill_bytes(secret);
        }
        for attempt in 0.. {
            let (onchain, transmitter) = (&secrets[2], &secrets[3]);
            let valid = |s: &[u8; 32]| k256::ecdsa::SigningKey::from_slice(s).is_ok();
            if valid(onchain) && valid(transmitter) {
                break;
            }
            if attempt == 8 {
                return Err(KeyError::Randomness("it keeps producing invalid secp256k1 secrets".into()));
            }
            for secret in &mut secrets[2..] {
                if !valid(secret) {
                    rng.fill_bytes(secret);
                }
            }
        }
        // Equal secrets mean a stuck generator; keys from it must not be used.
        for i in 0..secrets.len() {
            for j in i + 1..secrets.len() {
                if secrets[i] == secrets[j] {
                    return Err(KeyError::Randomness("it produced the same 32 bytes twice".into()));
                }
            }
        }
        NodeKeys::from_secrets(&secrets[0], &secrets[1], &secrets[2], &secrets[3])
    }

    /// Builds the keys from raw secrets: two Ed25519 seeds and two secp256k1
    /// scalars (big-endian), e.g. to import existing keys.
    pub fn from_secrets(
        offchain_seed: &[u8; 32],
        peer_seed: &[u8; 32],
        onchain_secret: &[u8; 32],
        transmitter_secret: &[u8; 32],
    ) -> Result<NodeKeys, KeyError> {
        Ok(NodeKeys {
            offchain: ed25519_dalek::SigningKey::from_bytes(offchain_seed),
            peer: ed25519_dalek::SigningKey::from_bytes(peer_seed),
            onchain: secp256k1_key(KeyKind::Onchain, None, onchain_secret)?,
            transmitter: secp256k1_key(KeyKind::Transmitter, None, transmitter_secret)?,
        })
    }

    /// The offchain key's Ed25519 seed.
    pub fn offchain_seed(&self) -> [u8; 32] {
        self.offchain.to_bytes()
    }

    /// The peer key's Ed25519 seed.
    pub fn peer_seed(&self) -> [u8; 32] {
        self.peer.to_bytes()
    }

    /// The onchain key's secp256k1 secret scalar, big-endian.
    pub fn onchain_secret(&self) -> [u8; 32] {
        self.onchain.to_bytes().into()
    }

    /// The transmitter key's secp256k1 secret scalar, big-endian.
    pub fn transmitter_secret(&self) -> [u8; 32] {
        self.transmitter.to_bytes().into()
    }

    /// The offchain signing key, ready to sign consensus messages.
    pub fn offchain_signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.offchain
    }

    /// The peer key, ready to make a TLS identity.
    pub fn peer_signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.peer
    }

    /// The onchain signing key, ready to sign reports.
    pub fn onchain_signing_key(&self) -> &k256::ecdsa::SigningKey {
        &self.onchain
    }

    /// The transmitter account's key, ready to sign transactions.
    pub fn transmitter_signing_key(&self) -> &k256::ecdsa::SigningKey {
        &self.transmitter
    }

    /// The public halves.
    pub fn public(&self) -> PublicKeys {
        PublicKeys {
            offchain_public_key: self.offchain.verifying_key().to_bytes(),
            peer_id: self.peer.verifying_key().to_bytes(),
            onchain_address: ethereum_address(self.onchain.verifying_key()),
            transmitter_address: ethereum_address(self.transmitter.verifying_key()),
        }
    }

    fn secret(&self, kind: KeyKind) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(match kind {
            KeyKind::Offchain => self.offchain_seed(),
            KeyKind::Peer => self.peer_seed(),
            KeyKind::Onchain => self.onchain_secret(),
            KeyKind::Transmitter => self.transmitter_secret(),
        })
    }

    /// Encrypts the keys into `dir` with the standard scrypt cost, refusing
    /// to replace existing key files. See [`NodeKeys::save_with`].
    pub fn save(&self, dir: &Path, password: &str) -> Result<(), KeyError> {
        self.save_with(dir, password, &SaveOptions::default())
    }

    /// Encrypts the keys into the four files of `dir`, creating it if needed.
    ///
    /// Without `options.overwrite`, nothing is written if any of the four
    /// files exists, and files written before a failure are removed again, so
    /// a failed save leaves no half set behind.
    pub fn save_with(&self, dir: &Path, password: &str, options: &SaveOptions) -> Result<(), KeyError> {
        if password.is_empty() {
            return Err(KeyError::EmptyPassword { origin: "the caller".into() });
        }
        create_private_dir(dir)?;
        if !options.overwrite {
            for kind in KeyKind::ALL {
                let path = dir.join(kind.file_name());
                // symlink_metadata so a dangling link also counts as "there".
                if fs::symlink_metadata(&path).is_ok() {
                    return Err(KeyError::AlreadyExists { path });
                }
            }
        }
        let mut written = Vec::new();
        for kind in KeyKind::ALL {
            let path = dir.join(kind.file_name());
            let result = seal(kind, &self.secret(kind), password, options.kdf)
                .and_then(|contents| write_key_file(&path, &contents, options.overwrite));
            if let Err(e) = result {
                if !options.overwrite {
                    for path in &written {
                        let _ = fs::remove_file(path);
                    }
                }
                return Err(e);
            }
            written.push(path);
        }
        sync_dir(dir);
        Ok(())
    }

    /// Decrypts the four key files of `dir`.
    ///
    /// All four files are read and parsed before any is decrypted, so a
    /// missing or damaged file is reported at once rather than after seconds
    /// of scrypt.
    pub fn load(dir: &Path, password: &str) -> Result<NodeKeys, KeyError> {
        let sealed = KeyKind::ALL.map(|kind| SealedKey::read(kind, dir.join(kind.file_name())));
        let sealed = {
            let [a, b, c, d] = sealed;
            [a?, b?, c?, d?]
        };
        let mut opened: Vec<Option<Zeroizing<Vec<u8>>>> = Vec::with_capacity(sealed.len());
        for (i, key) in sealed.iter().enumerate() {
            let plaintext = key.open(password)?;
            // Two files refusing the same password: it is the password.
            // Stopping here saves the scrypt work of the other files.
            if i == 1 && plaintext.is_none() && opened[0].is_none() {
                return Err(KeyError::WrongPassword { path: sealed[0].path.clone() });
            }
            opened.push(plaintext);
        }
        // The password opened some file, so a file it fails on is damaged
        // (or was encrypted under another password by hand).
        let opens = |i: usize| opened[i].is_some();
        if let Some(bad) = (0..sealed.len()).find(|&i| !opens(i)) {
            let good = (0..sealed.len()).find(|&i| opens(i)).map_or("", |i| sealed[i].kind.file_name());
            return Err(KeyError::CorruptFile {
                path: sealed[bad].path.clone(),
                reason: format!(
                    "its MAC does not match, although the same password opens {good}: the file is damaged or \
                     was encrypted with a different password"
                ),
            });
        }
        let secret = |i: usize| -> Result<Zeroizing<[u8; 32]>, KeyError> {
            let key = &sealed[i];
            let plaintext = opened[i].as_deref().map_or(&[][..], Vec::as_slice);
            let secret: [u8; 32] = plaintext.try_into().map_err(|_| KeyError::InvalidKey {
                kind: key.kind,
                path: Some(key.path.clone()),
                reason: format!("the secret is {} bytes, expected 32", plaintext.len()),
            })?;
            Ok(Zeroizing::new(secret))
        };
        let keys = NodeKeys {
            offchain: ed25519_dalek::SigningKey::from_bytes(&*secret(0)?),
            peer: ed25519_dalek::SigningKey::from_bytes(&*secret(1)?),
            onchain: secp256k1_key(KeyKind::Onchain, Some(&sealed[2].path), &*secret(2)?)?,
            transmitter: secp256k1_key(KeyKind::Transmitter, Some(&sealed[3].path), &*secret(3)?)?,
        };
        let public = keys.public();
        for (key, derived) in [(&sealed[2], public.onchain_address), (&sealed[3], public.transmitter_address)] {
            if let Some(stated) = key.address
                && stated != derived
            {
                return Err(KeyError::InvalidKey {
                    kind: key.kind,
                    path: Some(key.path.clone()),
                    reason: format!("the file says its address is {stated} but the key's address is {derived}"),
                });
            }
        }
        Ok(keys)
    }
}

/// In the JSON's notation, so logs and JSON can be compared by eye.
impl fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKeys")
            .field("offchain_public_key", &format_args!("{}", hex::encode(self.offchain_public_key)))
            .field("peer_id", &format_args!("{}", hex::encode(self.peer_id)))
            .field("onchain_address", &format_args!("{}", self.onchain_address))
            .field("transmitter_address", &format_args!("{}", self.transmitter_address))
            .finish()
    }
}

impl fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKeys").field("public", &self.public()).finish_non_exhaustive()
    }
}

fn secp256k1_key(kind: KeyKind, path: Option<&Path>, secret: &[u8; 32]) -> Result<k256::ecdsa::SigningKey, KeyError> {
    k256::ecdsa::SigningKey::from_slice(secret).map_err(|_| KeyError::InvalidKey {
        kind,
        path: path.map(Path::to_path_buf),
        reason: "the secret is zero or not below the secp256k1 group order".into(),
    })
}

/// keccak256 of the uncompressed public key without its 0x04 tag, last 20
/// bytes: how Ethereum (and the contract's ecrecover) names a secp256k1 key.
fn ethereum_address(key: &k256::ecdsa::VerifyingKey) -> Address {
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    Address::from_slice(&hash[12..])
}

// ---------------------------------------------------------------------------
// Keystore v3 files.

#[derive(Deserialize)]
struct KeystoreJson {
    #[serde(default)]
    address: Option<String>,
    // geth accepted "Crypto" in early versions and still reads it.
    #[serde(alias = "Crypto")]
    crypto: CryptoJson,
    version: u64,
    #[serde(default)]
    ocr_key: Option<String>,
}

#[derive(Deserialize)]
struct CryptoJson {
    cipher: String,
    ciphertext: String,
    cipherparams: CipherParamsJson,
    kdf: String,
    // Kept raw until `kdf` is checked, so a pbkdf2 file gets "unsupported
    // kdf" rather than a puzzling "missing field n".
    kdfparams: serde_json::Value,
    mac: String,
}

#[derive(Deserialize)]
struct CipherParamsJson {
    iv: String,
}

#[derive(Deserialize)]
struct ScryptParamsJson {
    dklen: u32,
    n: u64,
    p: u32,
    r: u32,
    salt: String,
}

/// A parsed, validated key file, not yet decrypted.
struct SealedKey {
    kind: KeyKind,
    path: PathBuf,
    params: scrypt::Params,
    salt: Vec<u8>,
    iv: [u8; 16],
    ciphertext: Vec<u8>,
    mac: [u8; 32],
    address: Option<Address>,
}

impl SealedKey {
    fn read(kind: KeyKind, path: PathBuf) -> Result<SealedKey, KeyError> {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(KeyError::MissingFile { path }),
            Err(source) => return Err(KeyError::Io { action: "open key file", path, source }),
        };
        let mut bytes = Vec::new();
        if let Err(source) = file.take(MAX_KEY_FILE_SIZE + 1).read_to_end(&mut bytes) {
            return Err(KeyError::Io { action: "read key file", path, source });
        }
        match Self::parse(kind, &path, &bytes) {
            Ok(sealed) => Ok(sealed),
            Err(Invalid::Corrupt(reason)) => Err(KeyError::CorruptFile { path, reason }),
            Err(Invalid::Key(reason)) => Err(KeyError::InvalidKey { kind, path: Some(path), reason }),
        }
    }

    fn parse(kind: KeyKind, path: &Path, bytes: &[u8]) -> Result<SealedKey, Invalid> {
        if bytes.len() as u64 > MAX_KEY_FILE_SIZE {
            return Err(Invalid::Corrupt(format!("larger than {MAX_KEY_FILE_SIZE} bytes, not a key file")));
        }
        let json: KeystoreJson = serde_json::from_slice(bytes)
            .map_err(|e| Invalid::Corrupt(format!("not an Ethereum keystore v3 JSON file ({e})")))?;
        if json.version != 3 {
            return Err(Invalid::Corrupt(format!("keystore version {} (only version 3 is supported)", json.version)));
        }
        if let Some(holds) = json.ocr_key.as_deref()
            && holds != kind.name()
        {
            return Err(Invalid::Key(format!(
                "the file holds the {holds} key, not the {kind} key (were key files renamed?)"
            )));
        }
        let crypto = json.crypto;
        if crypto.cipher != "aes-128-ctr" {
            return Err(Invalid::Corrupt(format!("unsupported cipher {:?} (expected aes-128-ctr)", crypto.cipher)));
        }
        if crypto.kdf != "scrypt" {
            return Err(Invalid::Corrupt(format!("unsupported kdf {:?} (expected scrypt)", crypto.kdf)));
        }
        let kdf: ScryptParamsJson = serde_json::from_value(crypto.kdfparams)
            .map_err(|e| Invalid::Corrupt(format!("bad scrypt parameters ({e})")))?;
        let params = checked_scrypt_params(&kdf).map_err(Invalid::Corrupt)?;
        let salt = hex_field("salt", &kdf.salt)?;
        if salt.is_empty() {
            return Err(Invalid::Corrupt("empty scrypt salt".into()));
        }
        let iv = hex_array::<16>("iv", &crypto.cipherparams.iv)?;
        let ciphertext = hex_field("ciphertext", &crypto.ciphertext)?;
        let mac = hex_array::<32>("mac", &crypto.mac)?;
        let address = match json.address {
            Some(a) if kind.is_secp256k1() => Some(
                a.strip_prefix("0x")
                    .unwrap_or(&a)
                    .parse::<Address>()
                    .map_err(|e| Invalid::Corrupt(format!("bad address field {a:?} ({e})")))?,
            ),
            // geth-style address fields mean nothing for Ed25519 keys.
            _ => None,
        };
        Ok(SealedKey { kind, path: path.to_path_buf(), params, salt, iv, ciphertext, mac, address })
    }

    /// The plaintext, or `None` if the MAC does not match the password.
    fn open(&self, password: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        let derived = derive_key(password, &self.salt, &self.params).map_err(KeyError::Kdf)?;
        if !constant_time_eq(&mac(&derived, &self.ciphertext), &self.mac) {
            return Ok(None);
        }
        let mut plaintext = Zeroizing::new(self.ciphertext.clone());
        apply_aes_ctr(&derived, &self.iv, &mut plaintext);
        Ok(Some(plaintext))
    }
}

enum Invalid {
    Corrupt(String),
    Key(String),
}

fn checked_scrypt_params(kdf: &ScryptParamsJson) -> Result<scrypt::Params, String> {
    if kdf.dklen != 32 {
        return Err(format!("scrypt dklen is {}, expected 32", kdf.dklen));
    }
    if kdf.n < 2 || !kdf.n.is_power_of_two() {
        return Err(format!("scrypt n = {} is not a power of two above 1", kdf.n));
    }
    let memory = u64::from(kdf.r).saturating_mul(128).saturating_mul(kdf.n);
    if kdf.r == 0
        || kdf.p == 0
        || memory > MAX_SCRYPT_MEMORY
        || memory.saturating_mul(u64::from(kdf.p)) > MAX_SCRYPT_WORK
    {
        return Err(format!(
            "scrypt cost n = {}, r = {}, p = {} is zero or beyond what a key file needs",
            kdf.n, kdf.r, kdf.p
        ));
    }
    let log_n = u8::try_from(kdf.n.trailing_zeros()).map_err(|_| "scrypt n out of range".to_string())?;
    scrypt::Params::new(log_n, kdf.r, kdf.p).map_err(|e| format!("invalid scrypt parameters ({e})"))
}

fn hex_field(name: &str, value: &str) -> Result<Vec<u8>, Invalid> {
    hex::decode(value.strip_prefix("0x").unwrap_or(value))
        .map_err(|e| Invalid::Corrupt(format!("the {name} is not valid hex ({e})")))
}

fn hex_array<const N: usize>(name: &str, value: &str) -> Result<[u8; N], Invalid> {
    let bytes = hex_field(name, value)?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| Invalid::Corrupt(format!("the {name} is {len} bytes, expected {N}")))
}

/// scrypt's 32-byte output: v3 encrypts with the first half and MACs with
/// the second.
#[derive(Zeroize, ZeroizeOnDrop)]
struct DerivedKey {
    encryption: [u8; 16],
    mac: [u8; 16],
}

fn derive_key(password: &str, salt: &[u8], params: &scrypt::Params) -> Result<DerivedKey, String> {
    let mut output = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(password.as_bytes(), salt, params, output.as_mut()).map_err(|e| format!("scrypt failed ({e})"))?;
    let mut derived = DerivedKey { encryption: [0; 16], mac: [0; 16] };
    derived.encryption.copy_from_slice(&output[..16]);
    derived.mac.copy_from_slice(&output[16..]);
    Ok(derived)
}

/// The v3 MAC: keccak256 of the derived key's second half and the ciphertext.
fn mac(derived: &DerivedKey, ciphertext: &[u8]) -> [u8; 32] {
    let mut hasher = Keccak256::new();
    hasher.update(derived.mac.as_slice());
    hasher.update(ciphertext);
    hasher.finalize().0
}

/// AES-128-CTR under the derived key's first half; its own inverse.
fn apply_aes_ctr(derived: &DerivedKey, iv: &[u8; 16], data: &mut [u8]) {
    let mut cipher = Aes128Ctr::new((&derived.encryption).into(), iv.into());
    cipher.apply_keystream(data);
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn seal(kind: KeyKind, secret: &[u8; 32], password: &str, cost: KdfCost) -> Result<Vec<u8>, KeyError> {
    let mut salt = [0u8; 32];
    let mut iv = [0u8; 16];
    let mut id = [0u8; 16];
    for buf in [&mut salt[..], &mut iv[..], &mut id[..]] {
        rand::rngs::OsRng.try_fill_bytes(buf).map_err(|e| KeyError::Randomness(e.to_string()))?;
    }
    let (log_n, r, p) = cost.log_n_r_p();
    let params = scrypt::Params::new(log_n, r, p).map_err(|e| KeyError::Kdf(e.to_string()))?;
    let derived = derive_key(password, &salt, &params).map_err(KeyError::Kdf)?;
    let mut ciphertext = secret.to_vec();
    apply_aes_ctr(&derived, &iv, &mut ciphertext);
    let address = match kind {
        KeyKind::Onchain | KeyKind::Transmitter => {
            let key = secp256k1_key(kind, None, secret)?;
            Some(hex::encode(ethereum_address(key.verifying_key())))
        }
        KeyKind::Offchain | KeyKind::Peer => None,
    };
    let mut json = serde_json::json!({
        "crypto": {
            "cipher": "aes-128-ctr",
            "ciphertext": hex::encode(&ciphertext),
            "cipherparams": { "iv": hex::encode(iv) },
            "kdf": "scrypt",
            "kdfparams": { "dklen": 32, "n": 1u64 << log_n, "p": p, "r": r, "salt": hex::encode(salt) },
            "mac": hex::encode(mac(&derived, &ciphertext)),
        },
        "id": uuid_v4(id),
        "version": 3,
        "ocr_key": kind.name(),
    });
    if let Some(address) = address {
        json["address"] = address.into();
    }
    // Value's alternate Display is pretty JSON, and unlike to_vec it cannot fail.
    Ok(format!("{json:#}\n").into_bytes())
}

/// geth and other tools expect `id` to be a random (version 4) UUID.
fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| KeyError::Io { action: "create key directory", path: dir.into(), source })
}

fn write_key_file(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), KeyError> {
    if !overwrite {
        // create_new makes "never overwrite" hold even against a racing writer.
        return write_new_file(path, contents);
    }
    // Write beside the target and rename over it, so a crash leaves the old
    // key or the new one, never a truncated file.
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    write_new_file(&tmp, contents)?;
    fs::rename(&tmp, path).map_err(|source| {
        let _ = fs::remove_file(&tmp);
        KeyError::Io { action: "replace key file", path: path.into(), source }
    })
}

fn write_new_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| match source.kind() {
        io::ErrorKind::AlreadyExists => KeyError::AlreadyExists { path: path.into() },
        _ => KeyError::Io { action: "create key file", path: path.into(), source },
    })?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(|source| KeyError::Io {
        action: "write key file",
        path: path.into(),
        source,
    })
}

/// Makes the new directory entries durable. Best effort: some filesystems
/// refuse to fsync a directory, and the files themselves are already synced.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

// ---------------------------------------------------------------------------
// Serde helpers for `PublicKeys`.

mod hex32 {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&s, &mut out)
            .map_err(|e| serde::de::Error::custom(format!("expected 64 hex digits without 0x, got {s:?} ({e})")))?;
        Ok(out)
    }
}

mod checksummed {
    use super::*;

    pub fn serialize<S: Serializer>(address: &Address, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&address.to_checksum(None))
    }

    /// All-lowercase or all-uppercase hex is taken as is; mixed case must be
    /// a correct EIP-55 checksum, since a wrong one means a mistyped address.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let s = String::deserialize(d)?;
        let Some(digits) = s.strip_prefix("0x") else {
            return Err(serde::de::Error::custom(format!("address {s:?} lacks its 0x prefix")));
        };
        let mixed = digits.chars().any(|c| c.is_ascii_lowercase()) && digits.chars().any(|c| c.is_ascii_uppercase());
        let bad = |e: &dyn fmt::Display| serde::de::Error::custom(format!("bad address {s:?} ({e})"));
        if mixed { Address::parse_checksummed(&s, None).map_err(|e| bad(&e)) } else { s.parse().map_err(|e| bad(&e)) }
    }
}

#[cfg(test)]
mod tests;
