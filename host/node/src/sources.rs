//! The node's data sources: what a plugin's observation reads by name.
//!
//! Three kinds: a static value, a simulated random walk (one market per seed,
//! so nodes with the same seed see the same market, plus per-node noise and
//! bias for demos and tests), and HTTP JSON (a URL polled in the background,
//! a JSON pointer into the answer, a timeout, an optional decimal scale).
//! Reads never touch the network: an observation takes the last fetched
//! value, and a value older than `max_age` is an error, never a stale answer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ocr_plugin_sdk::{DataSourceError, DataSources};
use rand::Rng;
use serde::Deserialize;

/// How one source is configured (`[sources.NAME]` in the node TOML).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    /// Always the same text.
    Static {
        /// The value.
        value: String,
    },
    /// A simulated market: a random walk that takes one step every
    /// `step_ms`, the same for every node with the same seed.
    RandomWalk {
        /// The value the walk starts from.
        start: i64,
        /// The largest step, in parts per million of the value.
        step_ppm: u32,
        /// Milliseconds per step.
        step_ms: u64,
        /// The market's seed.
        seed: u64,
        /// Per-read noise of this node, in parts per million (uniform ±).
        #[serde(default)]
        noise_ppm: u32,
        /// A constant bias of this node, in parts per million (a faulty or
        /// lying node in demos: 9_000_000 reports ten times the value).
        #[serde(default)]
        bias_ppm: i64,
    },
    /// A number in a JSON document fetched over HTTP.
    Http {
        /// The URL to GET.
        url: String,
        /// RFC 6901 JSON pointer to the number (e.g. `/data/price`).
        pointer: String,
        /// Request timeout in milliseconds.
        timeout_ms: u64,
        /// Milliseconds between fetches.
        interval_ms: u64,
        /// A value older than this many milliseconds is refused.
        max_age_ms: u64,
        /// Multiply by 10^decimals (decimal arithmetic, no floats).
        #[serde(default)]
        decimals: u32,
    },
}

/// Why a source configuration is unusable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceConfigError {
    /// A field is out of range.
    #[error("source {name:?}: {what}")]
    Invalid {
        /// The source.
        name: String,
        /// What is wrong.
        what: String,
    },
}

impl SourceSpec {
    /// Checks the fields of source `name`.
    pub fn validate(&self, name: &str) -> Result<(), SourceConfigError> {
        let invalid = |what: &str| Err(SourceConfigError::Invalid { name: name.to_owned(), what: what.to_owned() });
        match self {
            SourceSpec::Static { .. } => Ok(()),
            SourceSpec::RandomWalk { start, step_ppm, step_ms, .. } => {
                if *start <= 0 {
                    return invalid("start must be positive");
                }
                if *step_ppm > 100_000 {
                    return invalid("step_ppm must be at most 100000 (10% per step)");
                }
                if *step_ms == 0 {
                    return invalid("step_ms must be positive");
                }
                Ok(())
            }
            SourceSpec::Http { url, pointer, timeout_ms, interval_ms, max_age_ms, decimals } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return invalid("url must start with http:// or https://");
                }
                if !(pointer.is_empty() || pointer.starts_with('/')) {
                    return invalid("pointer must be empty or start with '/' (RFC 6901)");
                }
                if *timeout_ms == 0 || *timeout_ms > 60_000 {
                    return invalid("timeout_ms must be between 1 and 60000");
                }
                if *interval_ms < 100 {
                    return invalid("interval_ms must be at least 100");
                }
                if *max_age_ms < *interval_ms {
                    return invalid("max_age_ms must be at least interval_ms");
                }
                if *decimals > 30 {
                    return invalid("decimals must be at most 30");
                }
                Ok(())
            }
        }
    }
}

/// Steps after which a random walk starts again from its start value.
const WALK_PERIOD: u64 = 1_000_000;

/// A well-mixed 64-bit hash (SplitMix64's finaliser).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The honest market a random-walk source follows at time `at` (without
/// any node's noise or bias): the reference a demo compares answers with.
pub fn market_value(spec: &SourceSpec, at: SystemTime) -> Option<i128> {
    let SourceSpec::RandomWalk { start, step_ppm, step_ms, seed, .. } = spec else { return None };
    let walk = Walk {
        start: *start,
        step_ppm: *step_ppm,
        step_ms: (*step_ms).max(1),
        seed: *seed,
        noise_ppm: 0,
        bias_ppm: 0,
        at: Mutex::new((0, i128::from(*start))),
    };
    Some(walk.read(at))
}

/// The walk's value at step `k`, cached so that each read costs at most the
/// steps taken since the previous read.
struct Walk {
    start: i64,
    step_ppm: u32,
    step_ms: u64,
    seed: u64,
    noise_ppm: u32,
    bias_ppm: i64,
    at: Mutex<(u64, i128)>,
}

impl Walk {
    fn value_at_step(&self, k: u64) -> i128 {
        let Ok(mut at) = self.at.lock() else { return i128::from(self.start) };
        if k < at.0 {
            *at = (0, i128::from(self.start));
        }
        while at.0 < k {
            at.0 += 1;
            // Each step's move depends only on (seed, step), so every node
            // computes the same market whatever order it reads in; a hash
            // (not a seeded generator) keeps catching up cheap.
            let span = u64::from(self.step_ppm) * 2 + 1;
            let step = i128::from(splitmix64(self.seed ^ at.0) % span) - i128::from(self.step_ppm);
            at.1 = (at.1 + at.1 * step / 1_000_000).max(1);
        }
        at.1
    }

    fn read(&self, now: SystemTime) -> i128 {
        let ms = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        // The walk restarts every WALK_PERIOD steps, bounding the catch-up a
        // first read does (about 2 ms).
        let k = u64::try_from(ms / u128::from(self.step_ms)).unwrap_or(u64::MAX) % WALK_PERIOD;
        let market = self.value_at_step(k);
        let noise = if self.noise_ppm == 0 {
            0
        } else {
            i128::from(rand::rng().random_range(-i64::from(self.noise_ppm)..=i64::from(self.noise_ppm)))
        };
        market + market * (noise + i128::from(self.bias_ppm)) / 1_000_000
    }
}

/// The last result of an HTTP source.
#[derive(Clone, Debug)]
enum Fetched {
    Never,
    Value { text: String, at: Instant },
    Failed { error: String, last: Option<(String, Instant)> },
}

struct HttpSource {
    max_age: Duration,
    state: Arc<Mutex<Fetched>>,
}

impl HttpSource {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        let state = self.state.lock().map_err(|_| DataSourceError::Unavailable("lock poisoned".into()))?.clone();
        match state {
            Fetched::Value { text, at } if at.elapsed() <= self.max_age => Ok(text),
            Fetched::Value { at, .. } => Err(DataSourceError::Unavailable(format!(
                "source {name:?}: last value is {:.1}s old",
                at.elapsed().as_secs_f64()
            ))),
            // A failed fetch does not throw away a value that is still fresh.
            Fetched::Failed { last: Some((text, at)), .. } if at.elapsed() <= self.max_age => Ok(text),
            Fetched::Failed { error, .. } => Err(DataSourceError::Unavailable(format!("source {name:?}: {error}"))),
            Fetched::Never => Err(DataSourceError::Unavailable(format!("source {name:?}: not fetched yet"))),
        }
    }
}

enum Source {
    Static(String),
    Walk(Walk),
    Http(HttpSource),
}

/// Every source of a node, by name.
pub struct NodeSources {
    sources: BTreeMap<String, Source>,
    pollers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for NodeSources {
    fn drop(&mut self) {
        self.pollers.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

impl NodeSources {
    /// Builds the sources; HTTP sources start polling on the current tokio
    /// runtime (call from within one).
    pub fn start(specs: &BTreeMap<String, SourceSpec>) -> Result<Self, SourceConfigError> {
        let mut sources = BTreeMap::new();
        let mut pollers = Vec::new();
        for (name, spec) in specs {
            spec.validate(name)?;
            let source = match spec.clone() {
                SourceSpec::Static { value } => Source::Static(value),
                SourceSpec::RandomWalk { start, step_ppm, step_ms, seed, noise_ppm, bias_ppm } => Source::Walk(Walk {
                    start,
                    step_ppm,
                    step_ms,
                    seed,
                    noise_ppm,
                    bias_ppm,
                    at: Mutex::new((0, i128::from(start))),
                }),
                SourceSpec::Http { url, pointer, timeout_ms, interval_ms, max_age_ms, decimals } => {
                    let state = Arc::new(Mutex::new(Fetched::Never));
                    let fetch = HttpFetch { url, pointer, timeout: Duration::from_millis(timeout_ms), decimals };
                    pollers.push(tokio::spawn(poll(
                        name.clone(),
                        fetch,
                        Duration::from_millis(interval_ms),
                        state.clone(),
                    )));
                    Source::Http(HttpSource { max_age: Duration::from_millis(max_age_ms), state })
                }
            };
            sources.insert(name.clone(), source);
        }
        Ok(Self { sources, pollers })
    }

    /// The configured names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sources.keys().map(String::as_str)
    }
}

impl DataSources for NodeSources {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        match self.sources.get(name) {
            None => Err(DataSourceError::Unknown(name.to_owned())),
            Some(Source::Static(value)) => Ok(value.clone()),
            Some(Source::Walk(walk)) => Ok(walk.read(SystemTime::now()).to_string()),
            Some(Source::Http(http)) => http.read(name),
        }
    }
}

/// One HTTP source's request.
#[derive(Clone, Debug)]
struct HttpFetch {
    url: String,
    pointer: String,
    timeout: Duration,
    decimals: u32,
}

impl HttpFetch {
    /// Fetches and extracts the value (blocking; run off the runtime).
    fn fetch(&self) -> Result<String, String> {
        let agent: ureq::Agent =
            ureq::Agent::config_builder().timeout_global(Some(self.timeout)).http_status_as_error(true).build().into();
        let mut response = agent.get(&self.url).call().map_err(|e| format!("GET {}: {e}", self.url))?;
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| format!("reading {}: {e}", self.url))?;
        extract(&body, &self.pointer, self.decimals)
    }
}

/// The number at `pointer` in the JSON `body`, times 10^decimals, as a
/// decimal integer.
pub fn extract(body: &str, pointer: &str, decimals: u32) -> Result<String, String> {
    let document: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("answer is not JSON: {e}"))?;
    let value = document.pointer(pointer).ok_or_else(|| format!("no value at JSON pointer {pointer:?}"))?;
    let text = match value {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.trim().to_owned(),
        other => return Err(format!("value at {pointer:?} is not a number: {other}")),
    };
    scale_decimal(&text, decimals).ok_or_else(|| format!("value {text:?} at {pointer:?} is not a decimal number"))
}

/// `text` (a plain decimal such as `-3012.5`) times 10^decimals, truncated
/// toward zero, as an integer string. No floats, so no rounding surprises.
pub fn scale_decimal(text: &str, decimals: u32) -> Option<String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let decimals = decimals as usize;
    let mut scaled: String = whole.to_owned();
    scaled.extend(fraction.chars().take(decimals));
    scaled.extend(std::iter::repeat_n('0', decimals.saturating_sub(fraction.len())));
    let value: i128 = scaled.trim_start_matches('0').parse().unwrap_or(0);
    if scaled.trim_start_matches('0').len() > 38 {
        return None;
    }
    Some(if negative && value != 0 { format!("-{value}") } else { value.to_string() })
}

async fn poll(name: String, fetch: HttpFetch, interval: Duration, state: Arc<Mutex<Fetched>>) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let request = fetch.clone();
        let result = tokio::task::spawn_blocking(move || request.fetch())
            .await
            .unwrap_or_else(|e| Err(format!("fetch task failed: {e}")));
        let Ok(mut current) = state.lock() else { return };
        *current = match result {
            Ok(text) => Fetched::Value { text, at: Instant::now() },
            Err(error) => {
                tracing::warn!(source = %name, %error, "data source fetch failed");
                let last = match &*current {
                    Fetched::Value { text, at } => Some((text.clone(), *at)),
                    Fetched::Failed { last, .. } => last.clone(),
                    Fetched::Never => None,
                };
                Fetched::Failed { error, last }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn decimals_scale_without_floats() {
        assert_eq!(scale_decimal("3012.5", 8).as_deref(), Some("301250000000"));
        assert_eq!(scale_decimal("-0.000000019", 8).as_deref(), Some("-1"));
        assert_eq!(scale_decimal("42", 0).as_deref(), Some("42"));
        assert_eq!(scale_decimal("1.999", 2).as_deref(), Some("199"));
        assert_eq!(scale_decimal("1e5", 2), None);
        assert_eq!(scale_decimal("", 2), None);
        assert_eq!(scale_decimal("-", 2), None);
        assert_eq!(scale_decimal("1".repeat(40).as_str(), 0), None);
    }

    #[test]
    fn the_pointer_finds_numbers_and_numeric_strings() {
        let body = r#"{"data":{"price":3012.25,"text":"17.5","bad":true}}"#;
        assert_eq!(extract(body, "/data/price", 2).unwrap(), "301225");
        assert_eq!(extract(body, "/data/text", 1).unwrap(), "175");
        assert!(extract(body, "/data/bad", 0).unwrap_err().contains("not a number"));
        assert!(extract(body, "/data/none", 0).unwrap_err().contains("no value"));
        assert!(extract("<html>", "/x", 0).unwrap_err().contains("not JSON"));
    }

    #[test]
    fn nodes_with_one_seed_see_one_market() {
        let spec = |bias_ppm| {
            BTreeMap::from([(
                "p".to_owned(),
                SourceSpec::RandomWalk {
                    start: 1_000_000,
                    step_ppm: 1000,
                    step_ms: 10,
                    seed: 3,
                    noise_ppm: 0,
                    bias_ppm,
                },
            )])
        };
        let a = NodeSources::start(&spec(0)).unwrap();
        let b = NodeSources::start(&spec(0)).unwrap();
        let Some(Source::Walk(walk_a)) = a.sources.get("p") else { panic!() };
        let Some(Source::Walk(walk_b)) = b.sources.get("p") else { panic!() };
        for k in [5u64, 900, 3, 4000] {
            assert_eq!(walk_a.value_at_step(k), walk_b.value_at_step(k), "step {k}");
        }
        assert_ne!(walk_a.value_at_step(10), walk_a.value_at_step(4000), "the market moves");
        let liar = NodeSources::start(&spec(9_000_000)).unwrap();
        let honest: i128 = a.read("p").unwrap().parse().unwrap();
        let lie: i128 = liar.read("p").unwrap().parse().unwrap();
        assert!(lie > honest * 9, "a biased node reports {lie} against {honest}");
    }

    #[test]
    fn bad_specs_name_the_source_and_field() {
        let bad = SourceSpec::Http {
            url: "ftp://x".into(),
            pointer: "/p".into(),
            timeout_ms: 100,
            interval_ms: 100,
            max_age_ms: 100,
            decimals: 0,
        };
        let error = bad.validate("eth").unwrap_err().to_string();
        assert!(error.contains("\"eth\"") && error.contains("url"), "{error}");
        assert!(NodeSources::start(&BTreeMap::new()).unwrap().read("x").is_err());
    }
}
