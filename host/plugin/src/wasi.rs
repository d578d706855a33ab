//! The WASI surface a plugin gets: wasi:io and wasi:cli with nothing behind
//! them (no environment, no arguments, closed stdin, discarded output), and
//! clocks and randomness that are real in the local methods and deterministic
//! in the deterministic ones. Filesystem and sockets are not linked at all.
//!
//! Clocks never block: a `subscribe` on the monotonic clock is ready at once,
//! so a sleeping plugin burns its own deadline or fuel instead of parking a
//! host thread where epoch interruption cannot reach it.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi::p2::bindings::random::{insecure, insecure_seed, random};
use wasmtime_wasi::p2::bindings::{cli, sync as sync_bindings};
use wasmtime_wasi_io::poll::{Pollable, subscribe};

use crate::state::StoreState;
use ocr_plugin_api::Method;
use ocr_plugin_sdk::ConfigDigest;

/// Interfaces a plugin may import. Anything else is refused at load.
pub(crate) const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "wasi:io/error@0.2",
    "wasi:io/poll@0.2",
    "wasi:io/streams@0.2",
    "wasi:cli/environment@0.2",
    "wasi:cli/exit@0.2",
    "wasi:cli/stdin@0.2",
    "wasi:cli/stdout@0.2",
    "wasi:cli/stderr@0.2",
    "wasi:cli/terminal-input@0.2",
    "wasi:cli/terminal-output@0.2",
    "wasi:cli/terminal-stdin@0.2",
    "wasi:cli/terminal-stdout@0.2",
    "wasi:cli/terminal-stderr@0.2",
    "wasi:clocks/wall-clock@0.2",
    "wasi:clocks/monotonic-clock@0.2",
    "wasi:random/random@0.2",
    "wasi:random/insecure@0.2",
    "wasi:random/insecure-seed@0.2",
    "ocr:plugin/logging@0.1",
    "ocr:plugin/data-sources@0.1",
    "ocr:plugin/types@0.1",
];

/// Whether a plugin may import the interface `name`.
pub(crate) fn import_allowed(name: &str) -> bool {
    ALLOWED_IMPORT_PREFIXES
        .iter()
        .any(|p| name.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('.')))
}

/// Per-call clock and randomness state.
pub(crate) struct Entropy {
    deterministic: bool,
    /// What seeds a deterministic call's generator.
    digest: ConfigDigest,
    method: Method,
    seq_nr: u64,
    /// Built on first use: most calls never ask for randomness, and seeding
    /// costs a hash or a system call.
    rng: Option<ChaCha20Rng>,
    insecure_seed: u128,
}

impl Entropy {
    pub(crate) fn new(digest: &ConfigDigest) -> Self {
        let seed: [u8; 32] =
            Sha256::new().chain_update(b"ocr3/plugin/insecure-seed").chain_update(digest.0).finalize().into();
        let mut low = [0u8; 16];
        low.copy_from_slice(&seed[..16]);
        Self {
            deterministic: false,
            digest: *digest,
            method: Method::Create,
            seq_nr: 0,
            rng: None,
            insecure_seed: u128::from_le_bytes(low),
        }
    }

    /// Prepares for a call: deterministic methods get frozen clocks and a
    /// generator seeded from what every honest node shares.
    pub(crate) fn enter(&mut self, method: Method, seq_nr: u64) {
        self.deterministic = method.is_deterministic();
        self.method = method;
        self.seq_nr = seq_nr;
        self.rng = None;
    }

    fn rng(&mut self) -> &mut ChaCha20Rng {
        let (deterministic, digest, method, seq_nr) = (self.deterministic, self.digest, self.method, self.seq_nr);
        self.rng.get_or_insert_with(|| {
            if deterministic {
                let seed: [u8; 32] = Sha256::new()
                    .chain_update(b"ocr3/plugin/random")
                    .chain_update(digest.0)
                    .chain_update(method.wit_name().as_bytes())
                    .chain_update(seq_nr.to_be_bytes())
                    .finalize()
                    .into();
                ChaCha20Rng::from_seed(seed)
            } else {
                ChaCha20Rng::from_os_rng()
            }
        })
    }

    fn wall_now(&self) -> wall_clock::Datetime {
        if self.deterministic {
            return wall_clock::Datetime { seconds: 0, nanoseconds: 0 };
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        wall_clock::Datetime { seconds: now.as_secs(), nanoseconds: now.subsec_nanos() }
    }

    fn monotonic_now(&self) -> u64 {
        if self.deterministic {
            return 0;
        }
        static BASE: OnceLock<Instant> = OnceLock::new();
        u64::try_from(BASE.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The largest random buffer one call may request.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

fn random_bytes(rng: &mut ChaCha20Rng, len: u64) -> wasmtime::Result<Vec<u8>> {
    if len > MAX_RANDOM_BYTES {
        wasmtime::bail!("requested {len} random bytes, more than the {MAX_RANDOM_BYTES} allowed");
    }
    let mut out = vec![0u8; len as usize];
    rng.fill_bytes(&mut out);
    Ok(out)
}

/// A pollable that is always ready (see the module docs).
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

pub(crate) struct ClocksView<'a> {
    entropy: &'a Entropy,
    table: &'a mut ResourceTable,
}

impl ClocksView<'_> {
    fn ready_pollable(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let ready = self.table.push(Ready)?;
        subscribe(self.table, ready)
    }
}

impl wall_clock::Host for ClocksView<'_> {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(self.entropy.wall_now())
    }
    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime { seconds: 0, nanoseconds: 1 })
    }
}

impl monotonic_clock::Host for ClocksView<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.entropy.monotonic_now())
    }
    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }
    fn subscribe_instant(&mut self, _when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_pollable()
    }
    fn subscribe_duration(&mut self, _duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.ready_pollable()
    }
}

impl random::Host for Entropy {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        random_bytes(self.rng(), len)
    }
    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.rng().next_u64())
    }
}

impl insecure::Host for Entropy {
    fn get_insecure_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        random_bytes(self.rng(), len)
    }
    fn get_insecure_random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(self.rng().next_u64())
    }
}

impl insecure_seed::Host for Entropy {
    fn insecure_seed(&mut self) -> wasmtime::Result<(u64, u64)> {
        Ok((self.insecure_seed as u64, (self.insecure_seed >> 64) as u64))
    }
}

struct HasClocks;
impl HasData for HasClocks {
    type Data<'a> = ClocksView<'a>;
}

struct HasEntropy;
impl HasData for HasEntropy {
    type Data<'a> = &'a mut Entropy;
}

struct HasTable;
impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

fn clocks(state: &mut StoreState) -> ClocksView<'_> {
    ClocksView { entropy: &state.entropy, table: &mut state.table }
}

/// Adds the allowed WASI interfaces to `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<StoreState, HasTable>(l, |s| &mut s.table)?;
    sync_bindings::io::poll::add_to_linker::<StoreState, HasTable>(l, |s| &mut s.table)?;
    sync_bindings::io::streams::add_to_linker::<StoreState, HasTable>(l, |s| &mut s.table)?;
    cli::exit::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::environment::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::stdin::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::stdout::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::stderr::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::terminal_input::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::terminal_output::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::terminal_stdin::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::terminal_stdout::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    cli::terminal_stderr::add_to_linker::<StoreState, WasiCli>(l, StoreState::cli)?;
    wall_clock::add_to_linker::<StoreState, HasClocks>(l, clocks)?;
    monotonic_clock::add_to_linker::<StoreState, HasClocks>(l, clocks)?;
    random::add_to_linker::<StoreState, HasEntropy>(l, |s| &mut s.entropy)?;
    insecure::add_to_linker::<StoreState, HasEntropy>(l, |s| &mut s.entropy)?;
    insecure_seed::add_to_linker::<StoreState, HasEntropy>(l, |s| &mut s.entropy)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::import_allowed;

    #[test]
    fn the_allow_list_matches_whole_interface_names() {
        assert!(import_allowed("wasi:cli/environment@0.2.6"));
        assert!(import_allowed("ocr:plugin/logging@0.1.0"));
        assert!(!import_allowed("wasi:filesystem/preopens@0.2.6"));
        assert!(!import_allowed("wasi:sockets/tcp@0.2.6"));
        assert!(!import_allowed("wasi:cli/environment@0.20.0"));
        assert!(!import_allowed("ocr:plugin/logging@0.2.0"));
    }
}
