//! What the process-level tests share: the `ocr-node` binary and the
//! median plugin, a node process with its logs and metrics, waiting with a
//! timeout that prints every node's last log lines, and a local 4-node
//! network made by `network init`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ocr_node::config::node::NodeConfig;
use ocr_node::network_init::{self, InitOptions, Layout};

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ocr-node"))
}

pub fn median_plugin() -> PathBuf {
    let path = binary().parent().unwrap().parent().unwrap().join("plugins").join("median.wasm");
    assert!(path.exists(), "{} is missing: run `cargo xtask plugins` first", path.display());
    path
}

pub struct Node {
    pub config: PathBuf,
    pub metrics: String,
    pub child: Option<Child>,
    pub logs: Vec<PathBuf>,
}

impl Node {
    pub fn start(&mut self) {
        let log = self.config.with_file_name(format!("log-{}.json", self.logs.len()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary())
            .args(["run", "--log-json", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,ocr_node::signed=debug,quinn=warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.logs.push(log);
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }

    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.kill().ok();
        None
    }

    pub fn metric(&self, name: &str) -> Option<f64> {
        let text =
            ureq::get(&format!("http://{}/metrics", self.metrics)).call().ok()?.body_mut().read_to_string().ok()?;
        metric_value(&text, name)
    }

    pub fn tail(&self) -> String {
        let Some(log) = self.logs.last() else { return String::new() };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The value of an unlabelled metric line `name value`.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Sums every labelled line of `name` whose labels contain `filter`.
pub fn metric_sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub fn wait_for(what: &str, nodes: &[Node], timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let logs: Vec<String> = nodes.iter().enumerate().map(|(i, n)| format!("--- node {i}\n{}", n.tail())).collect();
    panic!("timed out waiting for {what}\n{}", logs.join("\n"));
}

pub fn network(dir: &Path) -> (Layout, Vec<Node>) {
    let layout = network_init::init(&InitOptions {
        nodes: 4,
        out: dir.to_path_buf(),
        plugin: median_plugin(),
        plugin_config: network_init::default_median_config(),
        base_port: 0,
        delta_round_ms: 50,
        r_max: 20,
        liar: true,
        durability: ocr_node::storage::Durability::Machine,
        chain: None,
        sources: None,
    })
    .unwrap();
    let nodes = layout
        .node_configs
        .iter()
        .map(|config| {
            let metrics = NodeConfig::load(config).unwrap().metrics_listen.unwrap().to_string();
            Node { config: config.clone(), metrics, child: None, logs: Vec::new() }
        })
        .collect();
    (layout, nodes)
}
