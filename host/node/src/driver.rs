//! The driver: runs one oracle of one protocol instance on tokio. It feeds
//! the sans-IO core messages from the transport, timer expiries and plugin
//! results, and performs the actions that come out, in order. A persist is
//! durable before any later action of its batch is performed; if storage
//! fails the driver stops rather than send what depended on it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use ocr_core::attestation::AttestedReport;
use ocr_core::messages::Message;
use ocr_core::oracle::{Action, Oracle, OracleSetup, Timer};
use ocr_core::storage::Storage;
use ocr_net::{Inbound, Transport};
use ocr_plugin_api::Plugin;
use tokio::sync::{mpsc, watch};

use crate::metrics::{ErrorLabels, MethodLabels, NodeMetrics, RefusedLabels};
use crate::plugin_store::PluginUsage;
use crate::plugin_worker::{self, Finished, PluginWorker};

/// What the driver reports to whoever runs it (tests, the bench, the demo,
/// the transmitter). Sent with `try_send`: a slow listener loses events, the
/// protocol never waits for it.
#[derive(Clone, Debug)]
pub enum DriverEvent {
    /// An outcome committed here.
    Committed {
        /// Its seq-nr.
        seq_nr: u64,
        /// Its epoch.
        epoch: u64,
        /// Round start to commit, when this node saw the round start.
        latency: Option<std::time::Duration>,
    },
    /// A report has f+1 signatures.
    Attested(AttestedReport),
    /// This node should send this report to the chain now.
    Transmit(AttestedReport),
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Storage failed; the batch that needed it was abandoned.
    #[error("storage failed, stopping before sending what depended on it: {0}")]
    Storage(String),
    /// The plugin thread could not start.
    #[error("plugin thread: {0}")]
    PluginThread(#[from] std::io::Error),
}

/// Everything a driver runs with.
pub struct Driver<S: Storage, T: Transport> {
    /// The oracle's setup.
    pub setup: OracleSetup,
    /// Durable state.
    pub storage: Arc<S>,
    /// Sending.
    pub transport: T,
    /// Receiving.
    pub inbound: Arc<Inbound>,
    /// The plugin instance (moved to its own thread).
    pub plugin: Box<dyn Plugin + Send>,
    /// The plugin's name, for logs and metrics.
    pub plugin_name: String,
    /// Metrics.
    pub metrics: NodeMetrics,
    /// Where events go, if anywhere.
    pub events: Option<mpsc::Sender<DriverEvent>>,
    /// The plugin store's per-method counters of this plugin, if any.
    pub usage: Option<Arc<PluginUsage>>,
}

/// Round starts not yet committed, for the latency histogram; bounded so a
/// leader announcing rounds that never commit cannot grow it.
const TRACKED_ROUNDS: usize = 64;

struct Running<S: Storage, T: Transport> {
    oracle: Oracle,
    digest: ocr_plugin_sdk::ConfigDigest,
    storage: Arc<S>,
    transport: T,
    worker: PluginWorker,
    timers: HashMap<Timer, tokio::time::Instant>,
    metrics: NodeMetrics,
    plugin_name: String,
    events: Option<mpsc::Sender<DriverEvent>>,
    usage: Option<Arc<PluginUsage>>,
    round_started: BTreeMap<u64, Instant>,
    me: u8,
    epoch: u64,
    invalid_signatures_seen: u64,
    highest_committed: u64,
}

impl<S: Storage + 'static, T: Transport> Driver<S, T> {
    /// Runs until `shutdown` turns true or storage fails. Returns the
    /// highest seq-nr committed, after the plugin has finished its call in
    /// progress and closed.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<u64, DriverError> {
        let Driver { setup, storage, transport, inbound, plugin, plugin_name, metrics, events, usage } = self;
        let digest = setup.config.config_digest;
        let me = setup.me;
        let persisted = storage.load(&digest).map_err(|e| DriverError::Storage(e.to_string()))?;
        if let Some(state) = &persisted.pacemaker {
            tracing::info!(oracle = me, epoch = state.epoch, "resuming from persisted state");
        }
        let (results_tx, mut results) = mpsc::channel(1024);
        let worker = PluginWorker::start(&plugin_name, plugin, results_tx)?;
        let (oracle, actions) = Oracle::start(setup, persisted);
        let mut running = Running {
            epoch: oracle.epoch(),
            oracle,
            digest,
            storage,
            transport,
            worker,
            timers: HashMap::new(),
            metrics,
            plugin_name,
            events,
            usage,
            round_started: BTreeMap::new(),
            me,
            invalid_signatures_seen: ocr_core::verification_stats::invalid_signatures(),
            highest_committed: 0,
        };
        running.metrics.up.set(1);
        running.perform(actions)?;
        // Whether the last turn fired a timer that was already due: the
        // next due one then yields first (see `sleep_until`).
        let mut fired_due = false;
        loop {
            let next_timer = running.timers.iter().min_by_key(|(_, at)| **at).map(|(t, at)| (*t, *at));
            let yield_if_due = std::mem::take(&mut fired_due);
            let actions = tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(finished) = results.recv() => running.plugin_finished(finished),
                (timer, was_due) = sleep_until(next_timer, yield_if_due), if next_timer.is_some() => {
                    fired_due = was_due;
                    running.timers.remove(&timer);
                    running.oracle.on_timer(timer)
                }
                (from, message) = inbound.pop() => {
                    running.observe_round_start(&message);
                    running.oracle.on_message(from, message)
                }
            };
            running.perform(actions)?;
            running.track_epoch();
            running.track_invalid_signatures();
        }
        running.metrics.up.set(0);
        let Running { worker, highest_committed, .. } = running;
        drop(results);
        let closed = tokio::task::spawn_blocking(move || worker.finish(PLUGIN_CLOSE_BOUND)).await.unwrap_or(false);
        if !closed {
            tracing::warn!(oracle = me, "the plugin did not close within {PLUGIN_CLOSE_BOUND:?}; left to finish alone");
        }
        Ok(highest_committed)
    }
}

/// How long the end of an instance waits for its plugin's call in progress
/// and its close.
const PLUGIN_CLOSE_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

/// Logs, at debug level under the `ocr_node::signed` target, every slot this
/// node signs and the first bytes of its signature. Signatures are
/// deterministic, so two different signatures for one (kind, epoch, seq-nr)
/// in these logs, across restarts, would be equivocation: the process tests
/// check exactly that.
fn log_signed(message: &Message) {
    if !tracing::enabled!(target: "ocr_node::signed", tracing::Level::DEBUG) {
        return;
    }
    let (epoch, seq_nr, signature): (u64, u64, &[u8]) = match message {
        Message::Prepare { epoch, seq_nr, signature } | Message::Commit { epoch, seq_nr, signature } => {
            (*epoch, *seq_nr, signature)
        }
        Message::Observation { epoch, seq_nr, signed } => (*epoch, *seq_nr, &signed.signature),
        Message::RoundStart { epoch, seq_nr, signature, .. } => (*epoch, *seq_nr, signature),
        Message::ReportSignatures { seq_nr, signatures } => {
            (0, *seq_nr, signatures.first().map(Vec::as_slice).unwrap_or_default())
        }
        _ => return,
    };
    let prefix = &signature[..signature.len().min(8)];
    tracing::debug!(target: "ocr_node::signed", kind = message.kind(), epoch, seq_nr, signature = %hex::encode(prefix), "signed");
}

/// Waits for `timer`'s deadline and says whether it was already due.
///
/// tokio's timer wheel ticks in milliseconds and rounds deadlines up: a
/// timer already due (DeltaGrace and DeltaRound may be zero) would wait for
/// the next tick, up to 1 ms per round, so it fires at once instead. When
/// the previous turn also fired a due timer (`yield_if_due`), it yields
/// first: a timer that re-arms itself at zero (DeltaResend in a development
/// config) then cannot keep the loop from reading its inbound queue.
async fn sleep_until(timer: Option<(Timer, tokio::time::Instant)>, yield_if_due: bool) -> (Timer, bool) {
    match timer {
        Some((timer, at)) => {
            if at > tokio::time::Instant::now() {
                tokio::time::sleep_until(at).await;
                (timer, false)
            } else {
                if yield_if_due {
                    tokio::task::yield_now().await;
                }
                (timer, true)
            }
        }
        None => std::future::pending().await,
    }
}

impl<S: Storage, T: Transport> Running<S, T> {
    fn plugin_finished(&mut self, finished: Finished) -> Vec<Action> {
        let method = finished.method.wit_name();
        let labels = MethodLabels { plugin: self.plugin_name.clone(), method };
        self.metrics.plugin_call_seconds.get_or_create(&labels).observe(finished.elapsed.as_secs_f64());
        if let Some(usage) = &self.usage {
            usage.record(finished.method, finished.elapsed, finished.error.is_some());
        }
        if let Some(error) = &finished.error {
            tracing::warn!(
                oracle = self.me,
                plugin = %self.plugin_name,
                seq_nr = finished.id.seq_nr,
                epoch = finished.id.epoch,
                method,
                %error,
                "plugin call failed"
            );
            let labels = ErrorLabels { plugin: self.plugin_name.clone(), method, error: error.kind_label() };
            self.metrics.plugin_errors.get_or_create(&labels).inc();
        }
        self.oracle.on_plugin_response(finished.id, finished.response)
    }

    fn observe_round_start(&mut self, message: &Message) {
        if let Message::RoundStart { seq_nr, .. } = message {
            self.round_started.entry(*seq_nr).or_insert_with(Instant::now);
            while self.round_started.len() > TRACKED_ROUNDS {
                self.round_started.pop_first();
            }
        }
    }

    fn track_epoch(&mut self) {
        let epoch = self.oracle.epoch();
        if epoch != self.epoch {
            self.epoch = epoch;
            self.metrics.leader_changes.inc();
            self.metrics.epoch.set(i64::try_from(epoch).unwrap_or(i64::MAX));
            tracing::info!(oracle = self.me, epoch, "entered a new epoch");
        }
    }

    fn track_invalid_signatures(&mut self) {
        let total = ocr_core::verification_stats::invalid_signatures();
        if total > self.invalid_signatures_seen {
            self.metrics.invalid_signatures.inc_by(total - self.invalid_signatures_seen);
            self.invalid_signatures_seen = total;
        }
    }

    fn emit(&self, event: DriverEvent) {
        if let Some(events) = &self.events {
            let _ = events.try_send(event);
        }
    }

    fn persist(&self, result: Result<(), S::Error>) -> Result<(), DriverError> {
        result.map_err(|e| {
            tracing::error!(oracle = self.me, error = %e, "storage failed; stopping");
            DriverError::Storage(e.to_string())
        })
    }

    fn perform(&mut self, actions: Vec<Action>) -> Result<(), DriverError> {
        for action in actions {
            match action {
                Action::Send { to, message } => {
                    self.observe_round_start(&message);
                    log_signed(&message);
                    self.transport.send(to, &message);
                }
                Action::Broadcast(message) => {
                    self.observe_round_start(&message);
                    log_signed(&message);
                    self.transport.broadcast(&message);
                }
                Action::SetTimer(timer, after) => {
                    self.timers.insert(timer, tokio::time::Instant::now() + after);
                }
                Action::CancelTimer(timer) => {
                    self.timers.remove(&timer);
                }
                Action::PersistPacemaker(state) => {
                    let result = tokio::task::block_in_place(|| self.storage.persist_pacemaker(&self.digest, &state));
                    self.persist(result)?;
                }
                Action::PersistCertificate(certificate) => {
                    let write = || self.storage.persist_certificate(&self.digest, &certificate);
                    // A flush blocks for the device; handing the runtime
                    // thread's work to another thread for a write that only
                    // reaches the page cache cost more than the write.
                    let result = if self.storage.certificate_write_waits_for_device(&self.digest, &certificate) {
                        tokio::task::block_in_place(write)
                    } else {
                        write()
                    };
                    self.persist(result)?;
                }
                Action::CallPlugin(call) => {
                    if let Err(call) = self.worker.call(Box::new(call)) {
                        tracing::warn!(oracle = self.me, seq_nr = call.id.seq_nr, "plugin queue full; call skipped");
                        let response = plugin_worker::failed(&call.request);
                        let follow = self.oracle.on_plugin_response(call.id, response);
                        self.perform(follow)?;
                    }
                }
                Action::Committed(commit) => {
                    let latency = self.round_started.remove(&commit.seq_nr).map(|at| at.elapsed());
                    self.round_started.retain(|seq_nr, _| *seq_nr > commit.seq_nr);
                    if let Some(latency) = latency {
                        self.metrics.round_latency.observe(latency.as_secs_f64());
                    }
                    self.metrics.outcomes.inc();
                    self.highest_committed = self.highest_committed.max(commit.seq_nr);
                    self.metrics.committed_seq_nr.set(i64::try_from(commit.seq_nr).unwrap_or(i64::MAX));
                    tracing::debug!(oracle = self.me, seq_nr = commit.seq_nr, epoch = commit.epoch, "committed");
                    self.emit(DriverEvent::Committed { seq_nr: commit.seq_nr, epoch: commit.epoch, latency });
                }
                Action::Attested(report) => {
                    self.metrics.attested_reports.inc();
                    tracing::debug!(oracle = self.me, seq_nr = report.seq_nr, index = report.index, "report attested");
                    self.emit(DriverEvent::Attested(report));
                }
                Action::Transmit(report) => {
                    self.metrics.transmissions.inc();
                    tracing::info!(
                        oracle = self.me,
                        seq_nr = report.seq_nr,
                        index = report.index,
                        "transmitting report"
                    );
                    self.emit(DriverEvent::Transmit(report));
                }
                Action::Refused { from, error } => {
                    tracing::debug!(oracle = self.me, peer = from, %error, "refused a message");
                    self.metrics.refused.get_or_create(&RefusedLabels { peer: from }).inc();
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future as _;

    use super::*;

    /// A timer already due fires at its first poll, not at the timer
    /// wheel's next millisecond tick (with DeltaGrace zero that wait was a
    /// quarter of every round); right after another due timer it yields
    /// once, so the loop's other sources get their turn.
    #[tokio::test]
    async fn a_due_timer_fires_without_waiting_for_a_tick() {
        let due = tokio::time::Instant::now();
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        let mut timer = std::pin::pin!(sleep_until(Some((Timer::Progress, due)), false));
        assert_eq!(timer.as_mut().poll(&mut context), std::task::Poll::Ready((Timer::Progress, true)));
        let mut again = std::pin::pin!(sleep_until(Some((Timer::Progress, due)), true));
        assert!(again.as_mut().poll(&mut context).is_pending(), "a second due timer in a row yields first");
        assert!(again.as_mut().poll(&mut context).is_ready());
        let later = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut pending = std::pin::pin!(sleep_until(Some((Timer::Progress, later)), false));
        assert!(pending.as_mut().poll(&mut context).is_pending());
        assert!(pending.as_mut().poll(&mut context).is_pending());
    }
}
