//! The plugin on its own thread. Plugin calls are CPU work with their own
//! deadlines (fuel and epoch interruption), so they never run on the async
//! runtime: the driver queues calls here (bounded) and receives results on a
//! bounded channel. A call that cannot be queued is answered at once as a
//! failed call, which the core treats as "no contribution". When the
//! instance ends, the call in progress finishes, queued ones are abandoned
//! (their results could only be stale), and the plugin is closed before
//! [`PluginWorker::finish`] returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use ocr_core::plugin_call::{self, CallId, PluginCall, PluginRequest, PluginResponse};
use ocr_plugin_api::{Method, Plugin, PluginCallError};
use tokio::sync::mpsc;

/// Calls waiting for the plugin before new ones are refused. A round makes
/// at most about n + 4 calls; this leaves room for several rounds.
const QUEUE: usize = 256;

/// A finished call.
pub struct Finished {
    /// The call's id.
    pub id: CallId,
    /// What the core gets.
    pub response: PluginResponse,
    /// The error, if the call failed.
    pub error: Option<PluginCallError>,
    /// The method, for metrics.
    pub method: Method,
    /// How long it took.
    pub elapsed: Duration,
}

/// The method a request runs (the outcome step for a proposal).
pub fn method_of(request: &PluginRequest) -> Method {
    match request {
        PluginRequest::Query { .. } => Method::Query,
        PluginRequest::Observation { .. } => Method::Observation,
        PluginRequest::ValidateObservation { .. } => Method::ValidateObservation,
        PluginRequest::ObservationQuorum { .. } => Method::ObservationQuorum,
        PluginRequest::ProposalOutcome { .. } => Method::Outcome,
        PluginRequest::Reports { .. } => Method::Reports,
        PluginRequest::ShouldAccept { .. } => Method::ShouldAcceptAttestedReport,
        PluginRequest::ShouldTransmit { .. } => Method::ShouldTransmitAcceptedReport,
    }
}

/// The answer of a call that did not run.
pub fn failed(request: &PluginRequest) -> PluginResponse {
    match request {
        PluginRequest::Query { .. } => PluginResponse::Query(None),
        PluginRequest::Observation { .. } => PluginResponse::Observation(None),
        PluginRequest::ValidateObservation { .. } => PluginResponse::ValidateObservation(false),
        PluginRequest::ObservationQuorum { .. } => PluginResponse::ObservationQuorum(false),
        PluginRequest::ProposalOutcome { .. } => PluginResponse::ProposalOutcome(None),
        PluginRequest::Reports { .. } => PluginResponse::Reports(None),
        PluginRequest::ShouldAccept { .. } => PluginResponse::ShouldAccept(false),
        PluginRequest::ShouldTransmit { .. } => PluginResponse::ShouldTransmit(false),
    }
}

/// The driver's handle on the plugin thread.
pub struct PluginWorker {
    calls: SyncSender<Box<PluginCall>>,
    closing: Arc<AtomicBool>,
    closed: Receiver<()>,
}

impl PluginWorker {
    /// Moves `plugin` to a new thread; results arrive on `results`.
    pub fn start(
        name: &str,
        mut plugin: Box<dyn Plugin + Send>,
        results: mpsc::Sender<Finished>,
    ) -> std::io::Result<Self> {
        let (calls, queue) = sync_channel::<Box<PluginCall>>(QUEUE);
        let closing = Arc::new(AtomicBool::new(false));
        let (closed_tx, closed) = sync_channel(1);
        let stop = closing.clone();
        std::thread::Builder::new().name(format!("plugin-{name}")).spawn(move || {
            while let Ok(call) = queue.recv() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let started = Instant::now();
                let (response, error) = plugin_call::execute(plugin.as_mut(), &call.request);
                let finished = Finished {
                    id: call.id,
                    response,
                    error,
                    method: method_of(&call.request),
                    elapsed: started.elapsed(),
                };
                if results.blocking_send(finished).is_err() {
                    break;
                }
            }
            // The instance is over: in-flight calls have finished; let the
            // plugin release what it holds.
            if let Err(error) = plugin.close() {
                tracing::debug!(%error, "plugin close failed");
            }
            let _ = closed_tx.send(());
        })?;
        Ok(Self { calls, closing, closed })
    }

    /// Ends the instance: abandons queued calls, lets the one in progress
    /// finish (its own deadline bounds it) and closes the plugin, waiting
    /// at most `bound`. Blocking: call it off the async runtime.
    pub fn finish(self, bound: Duration) -> bool {
        self.closing.store(true, Ordering::Relaxed);
        let Self { calls, closed, .. } = self;
        drop(calls);
        closed.recv_timeout(bound).is_ok()
    }

    /// Queues a call; `Err` gives it back when the queue is full or the
    /// thread is gone.
    pub fn call(&self, call: Box<PluginCall>) -> Result<(), Box<PluginCall>> {
        self.calls.try_send(call).map_err(|e| match e {
            TrySendError::Full(call) | TrySendError::Disconnected(call) => call,
        })
    }
}
