//! `ocr-node network init`: a local N-node network in one step. For each
//! node a key directory (light scrypt: these are throwaway keys), a password
//! file, a node TOML with loopback addresses and a simulated market; one
//! shared network TOML naming the plugin by sha256; the plugin copied next
//! to them. The result runs as is with `ocr-node run --config
//! DIR/node-I/node.toml`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::network::{NetworkConfig, OracleEntry, PluginSection, Timing};
use crate::keys::{KdfCost, NodeKeys, PublicKeys, SaveOptions};
use crate::storage::Durability;

/// What to create.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Number of nodes (f is the largest with 3f < n).
    pub nodes: u8,
    /// The output directory.
    pub out: PathBuf,
    /// The plugin component to run (copied into `out/plugins`).
    pub plugin: PathBuf,
    /// The plugin's config (JSON for the median plugin).
    pub plugin_config: String,
    /// Node i listens on UDP `base_port + i` and serves metrics on TCP
    /// `base_port + 100 + i` (0: pick free ports now).
    pub base_port: u16,
    /// Milliseconds between rounds (0: back to back).
    pub delta_round_ms: u64,
    /// Rounds per epoch.
    pub r_max: u64,
    /// Make the last node lie (report ten times the market).
    pub liar: bool,
    /// How durable the nodes' persists are.
    pub durability: Durability,
    /// A chain the nodes read their config from and transmit to:
    /// (JSON-RPC URL, aggregator address). Each node then gets a `[chain]`
    /// section and a `secret` file with the shared secret.
    pub chain: Option<(String, alloy_primitives::Address)>,
    /// The `[sources.NAME]` tables every node gets, as TOML; `None` for the
    /// median demo's market (`eth-usd`, a random walk, and `link-eth`).
    pub sources: Option<String>,
}

/// Where things were written.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Each node's TOML.
    pub node_configs: Vec<PathBuf>,
    /// The shared network TOML.
    pub network_config: PathBuf,
    /// Each node's public keys.
    pub public_keys: Vec<PublicKeys>,
    /// Each node's QUIC address.
    pub addresses: Vec<SocketAddr>,
    /// Each node's admin API address (its token is in `node-<i>/admin-token`).
    pub admin: Vec<SocketAddr>,
}

/// The market every node observes, as a TOML table.
fn market(liar: bool) -> String {
    let bias = if liar { 9_000_000 } else { 0 };
    format!(
        "[sources.eth-usd]\nkind = \"random_walk\"\nstart = 300000000000\nstep_ppm = 300\nstep_ms = 250\nseed = 7\nnoise_ppm = 50\nbias_ppm = {bias}\n\n[sources.link-eth]\nkind = \"static\"\nvalue = \"4500000000000000\"\n"
    )
}

/// A UDP port free right now on loopback (the OS picks it).
fn free_udp_port(held: &mut Ports) -> Result<u16> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let port = socket.local_addr()?.port();
    held.udp.push(socket);
    Ok(port)
}

/// A TCP port free right now on loopback.
fn free_tcp_port(held: &mut Ports) -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    held.tcp.push(listener);
    Ok(port)
}

/// The ports picked so far, held open until every node has its own: a port
/// released at once can be handed out again by the next pick, and 31 nodes
/// need 93 distinct ones.
#[derive(Default)]
struct Ports {
    udp: Vec<std::net::UdpSocket>,
    tcp: Vec<std::net::TcpListener>,
}

/// The default median plugin config: observe `eth-usd`, report on a 0.2%
/// move or every minute.
pub fn default_median_config() -> String {
    r#"{"version":1,"value_source":"eth-usd","juels_per_fee_coin_source":"link-eth","deviation_threshold_ppb":2000000,"heartbeat_seconds":60}"#
        .to_owned()
}

/// Creates the network.
pub fn init(options: &InitOptions) -> Result<Layout> {
    let n = options.nodes;
    ensure!((4..=31).contains(&n), "--nodes must be between 4 and 31 (3f < n with f >= 1)");
    let f = (n - 1) / 3;
    std::fs::create_dir_all(&options.out).with_context(|| format!("creating {}", options.out.display()))?;
    let plugin_bytes = std::fs::read(&options.plugin).with_context(|| {
        format!("reading the plugin {} (build it with `cargo xtask plugins`)", options.plugin.display())
    })?;
    let plugin_sha256 = hex::encode(Sha256::digest(&plugin_bytes));
    let plugin_name = options.plugin.file_stem().and_then(|s| s.to_str()).unwrap_or("plugin").to_owned();

    let mut public_keys = Vec::new();
    let mut addresses = Vec::new();
    let mut metrics = Vec::new();
    let mut admin = Vec::new();
    let mut held = Ports::default();
    for i in 0..n {
        let dir = options.out.join(format!("node-{i}"));
        let password = hex::encode(rand::random::<[u8; 16]>());
        std::fs::create_dir_all(&dir)?;
        write_private(&dir.join("password"), &password)?;
        write_private(&dir.join("admin-token"), &hex::encode(rand::random::<[u8; 16]>()))?;
        // Each node's watched plugin directory, with the plugin in it: the
        // node adds it to its store when it starts.
        std::fs::create_dir_all(dir.join("plugins"))?;
        std::fs::write(dir.join("plugins").join(format!("{plugin_name}.wasm")), &plugin_bytes)?;
        let keys = NodeKeys::generate(&mut rand::rng())?;
        keys.save_with(&dir.join("keys"), &password, &SaveOptions { overwrite: false, kdf: KdfCost::Light })?;
        public_keys.push(keys.public());
        let (quic, http, admin_port) = if options.base_port == 0 {
            (free_udp_port(&mut held)?, free_tcp_port(&mut held)?, free_tcp_port(&mut held)?)
        } else {
            let i = u16::from(i);
            (options.base_port + i, options.base_port + 100 + i, options.base_port + 200 + i)
        };
        addresses.push(SocketAddr::from(([127, 0, 0, 1], quic)));
        metrics.push(SocketAddr::from(([127, 0, 0, 1], http)));
        admin.push(SocketAddr::from(([127, 0, 0, 1], admin_port)));
    }

    let mut secret = [0u8; 16];
    rand::rng().fill_bytes(&mut secret);
    let development = options.delta_round_ms < 100;
    let network = NetworkConfig {
        chain_id: 0,
        contract: alloy_primitives::Address::ZERO,
        config_count: 1,
        f,
        shared_secret: hex::encode(secret),
        development,
        // Answers anywhere in int192: the demo's market has no bounds.
        onchain_config: hex::encode(ocr_chain::encode_onchain_config(ocr_chain::I192::MIN, ocr_chain::I192::MAX)),
        timing: Timing {
            delta_progress_ms: 2000,
            delta_resend_ms: 2000,
            delta_initial_ms: 400,
            delta_round_ms: options.delta_round_ms,
            delta_grace_ms: if development { 0 } else { 20 },
            delta_certified_commit_request_ms: 200,
            delta_stage_ms: 1000,
            r_max: options.r_max,
            transmission_schedule: vec![1; usize::from(n)],
            max_duration_query_ms: 50,
            max_duration_observation_ms: 50,
            max_duration_should_accept_ms: 50,
            max_duration_should_transmit_ms: 50,
        },
        plugin: PluginSection {
            name: plugin_name.clone(),
            sha256: plugin_sha256,
            config: options.plugin_config.clone(),
        },
        oracles: public_keys
            .iter()
            .map(|k| OracleEntry {
                offchain_public_key: hex::encode(k.offchain_public_key),
                onchain_signer: k.onchain_address,
                peer_id: hex::encode(k.peer_id),
                transmitter: k.transmitter_address,
            })
            .collect(),
    };
    network.instance().map_err(|(field, what)| anyhow::anyhow!("generated network config: {field}: {what}"))?;
    let network_config = options.out.join("network.toml");
    std::fs::write(&network_config, toml::to_string_pretty(&network)?)?;

    let mut node_configs = Vec::new();
    for i in 0..usize::from(n) {
        let dir = options.out.join(format!("node-{i}"));
        let mut text = String::new();
        writeln!(text, "# Node {i} of a local {n}-node network made by `ocr-node network init`.")?;
        writeln!(text, "listen = \"{}\"", addresses[i])?;
        writeln!(text, "metrics_listen = \"{}\"", metrics[i])?;
        writeln!(text, "admin_listen = \"{}\"\nadmin_token_file = \"admin-token\"", admin[i])?;
        writeln!(text, "data_dir = \"data\"\nplugin_dir = \"plugins\"\nnetwork_config = \"../network.toml\"")?;
        let durability = match options.durability {
            Durability::Machine => "machine",
            Durability::Process => "process",
        };
        writeln!(text, "storage_durability = \"{durability}\"\n")?;
        writeln!(text, "[keys]\ndir = \"keys\"\npassword_file = \"password\"\n")?;
        writeln!(text, "[peers]")?;
        for (j, key) in public_keys.iter().enumerate() {
            if j != i {
                writeln!(text, "\"{}\" = \"{}\"", hex::encode(key.peer_id), addresses[j])?;
            }
        }
        writeln!(text)?;
        match &options.sources {
            Some(sources) => text.push_str(sources),
            None => text.push_str(&market(options.liar && i == usize::from(n) - 1)),
        }
        if let Some((rpc_url, contract)) = &options.chain {
            write_private(&dir.join("secret"), &hex::encode(secret))?;
            writeln!(
                text,
                "\n[chain]\nrpc_url = \"{rpc_url}\"\ncontract = \"{contract}\"\nshared_secret_file = \"secret\""
            )?;
        }
        let file = dir.join("node.toml");
        std::fs::write(&file, text)?;
        node_configs.push(file);
    }
    Ok(Layout { node_configs, network_config, public_keys, addresses, admin })
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
