#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end against anvil, with the project's own tools: the aggregator
//! deployed and configured with `ocr-node contract`, from a network made by
//! `ocr-node network init` with the nodes' keys; four `ocr-node run`
//! processes read the config from the contract and transmit; at least ten
//! reports land, `latestRoundData` follows the honest market (one node
//! lies), and with one node killed the feed keeps updating.
//!
//! anvil comes from `contracts/` (`npm ci`, which `cargo xtask test` runs
//! first). Without it the test says so and passes, unless
//! `OCR_REQUIRE_ANVIL=1` (set by `cargo xtask test`) makes that a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use ocr_chain::{Address, Chain, RpcChain, RpcOptions};
use ocr_node::config::node::NodeConfig;

const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ocr-node"))
}

fn anvil() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    path.exists().then_some(path)
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn ocr_node(args: &[&str]) -> String {
    let output = Command::new(binary()).args(args).env("OWNER_KEY", ANVIL_KEY_0).output().unwrap();
    assert!(output.status.success(), "ocr-node {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn fund(rpc_url: &str, account: Address) {
    let request = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "anvil_setBalance",
        "params": [account.to_string(), "0x56BC75E2D63100000"],
    });
    ureq::post(rpc_url).send_json(&request).unwrap();
}

async fn transmissions(chain: &RpcChain, contract: Address) -> Vec<ocr_chain::Transmission> {
    chain.transmissions_since(contract, 0).await.unwrap_or_default()
}

/// Waits for `count` transmissions; on a timeout, fails with the end of
/// every node's log (the logs live in a temporary directory that is gone
/// once the test has failed).
async fn wait_for_transmissions(chain: &RpcChain, contract: Address, count: usize, what: &str, logs: &[PathBuf]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if transmissions(chain, contract).await.len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let tails: Vec<String> = logs
        .iter()
        .map(|log| {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            format!("--- {}\n{}", log.display(), lines[lines.len().saturating_sub(25)..].join("\n"))
        })
        .collect();
    panic!(
        "timed out waiting for {what}: {} transmissions\n{}",
        transmissions(chain, contract).await.len(),
        tails.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_feed_an_aggregator_on_anvil() {
    let Some(anvil) = anvil() else {
        assert!(std::env::var("OCR_REQUIRE_ANVIL").is_err(), "anvil is required but missing: cd contracts && npm ci");
        eprintln!("anvil_e2e: anvil not installed (cd contracts && npm ci); skipping");
        return;
    };
    let plugin = binary().parent().unwrap().parent().unwrap().join("plugins").join("median.wasm");
    assert!(plugin.exists(), "{} is missing: run `cargo xtask plugins` first", plugin.display());
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rpc_url = format!("http://127.0.0.1:{port}");
    let mut processes = Killed(vec![
        Command::new(anvil)
            .args(["--port", &port.to_string(), "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ]);
    let chain = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match RpcChain::connect(&rpc_url, RpcOptions::default()).await {
                Ok(chain) => break chain,
                Err(error) if Instant::now() > deadline => panic!("anvil did not start: {error}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    };

    let contract = ocr_node(&["contract", "deploy", "--rpc-url", &rpc_url, "--owner-key-env", "OWNER_KEY"]);
    let contract = contract.trim().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let plugin_config = r#"{"version":1,"value_source":"eth-usd","juels_per_fee_coin_source":"link-eth","deviation_threshold_ppb":200000,"heartbeat_seconds":2}"#;
    ocr_node(&[
        "network",
        "init",
        "--nodes",
        "4",
        "--out",
        out,
        "--plugin",
        plugin.to_str().unwrap(),
        "--plugin-config",
        plugin_config,
        "--delta-round-ms",
        "200",
        "--liar",
        "--rpc-url",
        &rpc_url,
        "--contract",
        &contract,
    ]);
    let network = dir.path().join("network.toml");
    let digest = ocr_node(&[
        "contract",
        "set-config",
        "--rpc-url",
        &rpc_url,
        "--contract",
        &contract,
        "--owner-key-env",
        "OWNER_KEY",
        "--network-config",
        network.to_str().unwrap(),
    ]);
    assert!(digest.trim().starts_with("0x0001"), "the contract's digest: {digest}");
    let contract: Address = contract.parse().unwrap();
    let configs: Vec<PathBuf> = (0..4).map(|i| dir.path().join(format!("node-{i}/node.toml"))).collect();
    let text = std::fs::read_to_string(&network).unwrap();
    for line in text.lines().filter(|l| l.starts_with("transmitter = ")) {
        fund(&rpc_url, line.trim_start_matches("transmitter = ").trim_matches('"').parse().unwrap());
    }

    for config in &configs {
        let log = std::fs::File::create(config.with_file_name("log")).unwrap();
        let child = Command::new(binary())
            .args(["run", "--config", config.to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        processes.0.push(child);
    }
    let logs: Vec<PathBuf> = configs.iter().map(|c| c.with_file_name("log")).collect();
    wait_for_transmissions(&chain, contract, 10, "ten reports on chain", &logs).await;

    // The answer follows the honest market, whatever node 3 claims: within
    // 0.5% of the market at the report's observation time (per-node noise
    // is 0.005%, the market moves 0.03% per 250 ms).
    let market = NodeConfig::load(&configs[0]).unwrap().sources.get("eth-usd").cloned().unwrap();
    let round = chain.latest_round_data(contract).await.unwrap().expect("a round on chain");
    let all = transmissions(&chain, contract).await;
    let last = all.last().unwrap();
    assert_eq!(round.answer.to_string(), last.answer.to_string(), "latestRoundData is the last transmission");
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(last.observations_timestamp));
    let reference = ocr_node::sources::market_value(&market, at).unwrap();
    let answer: i128 = last.answer.to_string().parse().unwrap();
    assert!((answer - reference).abs() * 1000 < reference * 5, "answer {answer}, market {reference}");
    assert!(all.windows(2).all(|w| w[0].seq_nr < w[1].seq_nr), "seq-nrs increase on chain");

    // Kill node 1 (SIGKILL): the feed keeps updating.
    processes.0[2].kill().unwrap();
    processes.0[2].wait().unwrap();
    let before = all.len();
    wait_for_transmissions(&chain, contract, before + 5, "five more reports with a node down", &logs).await;
}
