//! A node process started from a `network init` layout, for the scripted
//! end-to-end runs: killed when dropped, with its metrics, log and memory at
//! hand.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

/// A node process, killed when dropped.
pub struct NodeProcess {
    /// The node's TOML.
    pub config: PathBuf,
    metrics: String,
    child: Child,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProcess {
    /// Starts `binary run --config CONFIG`, logging to `node.log` beside it.
    pub fn start(binary: &Path, config: PathBuf) -> Result<Self> {
        let text = std::fs::read_to_string(&config)?;
        let metrics = text
            .lines()
            .find_map(|l| l.strip_prefix("metrics_listen = "))
            .map(|v| v.trim_matches('"').to_owned())
            .context("the node config has no metrics_listen")?;
        let log = std::fs::File::create(config.with_file_name("node.log"))?;
        let child = Command::new(binary)
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info,quinn=warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(Self { config, metrics, child })
    }

    /// An unlabelled metric, or 0 while the node is not up.
    pub fn metric(&self, name: &str) -> f64 {
        let Ok(mut stream) = TcpStream::connect(&self.metrics) else { return 0.0 };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut text = String::new();
        if write!(stream, "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n", self.metrics).is_err()
            || stream.read_to_string(&mut text).is_err()
        {
            return 0.0;
        }
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.config.with_file_name("node.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Its resident memory now and at its peak, in MiB, from /proc.
    pub fn rss_mb(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}
