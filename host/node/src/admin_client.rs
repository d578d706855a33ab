//! The client side of the admin API, for `ocr-node plugin ...` and tests:
//! where a node's API is (from its TOML, or given), and one call per
//! endpoint. An error answer becomes an error carrying the node's message.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::config::node::NodeConfig;

/// A node's admin API.
pub struct AdminClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl AdminClient {
    /// The API at `base` (`http://host:port`) with `token`.
    pub fn new(base: &str, token: String) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .build()
            .into();
        Self { base: base.trim_end_matches('/').to_owned(), token, agent }
    }

    /// The API of the node configured by `file` (its `admin_listen` and
    /// `admin_token_file`).
    pub fn for_node(file: &Path) -> Result<Self> {
        let config = NodeConfig::load(file)?;
        let (Some(address), Some(token_file)) = (config.admin_listen, &config.admin_token_file) else {
            bail!("{}: admin_listen is not set, so the node has no admin API", file.display());
        };
        Ok(Self::new(&format!("http://{address}"), crate::admin::read_token(token_file)?))
    }

    fn answer(&self, what: &str, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value> {
        let mut response = response.with_context(|| format!("{what}: cannot reach the admin API at {}", self.base))?;
        let status = response.status();
        let body = response.body_mut().read_to_string().with_context(|| format!("{what}: reading the answer"))?;
        let value: Value =
            serde_json::from_str(&body).with_context(|| format!("{what}: the node answered {status} with {body:?}"))?;
        if !status.is_success() {
            let message = value.get("error").and_then(Value::as_str).unwrap_or(&body);
            bail!("{what}: {message} (HTTP {})", status.as_u16());
        }
        Ok(value)
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Every plugin in the node's store.
    pub fn list(&self) -> Result<Value> {
        let url = format!("{}/v1/plugins", self.base);
        self.answer("plugin list", self.agent.get(&url).header("Authorization", self.auth()).call())
    }

    /// One plugin.
    pub fn show(&self, sha256: &str) -> Result<Value> {
        let url = format!("{}/v1/plugins/{sha256}", self.base);
        self.answer("plugin inspect", self.agent.get(&url).header("Authorization", self.auth()).call())
    }

    /// Adds a component; `offchain_config` is the smoke config's plugin
    /// config when no instance names the plugin.
    pub fn add(&self, component: &[u8], offchain_config: Option<&[u8]>) -> Result<Value> {
        let mut url = format!("{}/v1/plugins", self.base);
        if let Some(config) = offchain_config {
            url.push_str(&format!("?offchain_config={}", hex::encode(config)));
        }
        let request = self.agent.post(&url).header("Authorization", self.auth());
        self.answer("plugin add", request.header("Content-Type", "application/wasm").send(component))
    }

    /// Removes a plugin no instance uses.
    pub fn remove(&self, sha256: &str) -> Result<Value> {
        let url = format!("{}/v1/plugins/{sha256}", self.base);
        self.answer("plugin remove", self.agent.delete(&url).header("Authorization", self.auth()).call())
    }
}
