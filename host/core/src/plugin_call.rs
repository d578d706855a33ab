//! Plugin calls as data. The core never calls the plugin: it emits a
//! [`PluginCall`] carrying everything the call needs (snapshotted when it was
//! issued, so background work never reads state that changed meanwhile), and
//! the driver feeds back the [`PluginResponse`] with the same [`CallId`].
//! Results for an epoch or round the core has left are dropped by id.

use ocr_plugin_api::{AttributedObservation, OutcomeContext, Plugin, ReportPlus};

/// Which call a result belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallId {
    /// The epoch it was issued in (0 for report attestation).
    pub epoch: u64,
    /// The round it belongs to.
    pub seq_nr: u64,
    /// Distinguishes calls of one round (e.g. the observer being validated).
    pub tag: u32,
}

/// A plugin call to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginRequest {
    /// Leader: the query of a round.
    Query {
        /// Context.
        ctx: OutcomeContext,
    },
    /// Follower: this oracle's observation.
    Observation {
        /// Context.
        ctx: OutcomeContext,
        /// The leader's query.
        query: Vec<u8>,
    },
    /// Leader: is this observation valid?
    ValidateObservation {
        /// Context.
        ctx: OutcomeContext,
        /// The query.
        query: Vec<u8>,
        /// The observation.
        observation: AttributedObservation,
    },
    /// Leader: do these valid observations make a quorum?
    ObservationQuorum {
        /// Context.
        ctx: OutcomeContext,
        /// The query.
        query: Vec<u8>,
        /// The valid observations.
        observations: Vec<AttributedObservation>,
    },
    /// Follower: validate a proposal's observations, check the quorum and
    /// compute the outcome.
    ProposalOutcome {
        /// Context.
        ctx: OutcomeContext,
        /// The follower's own copy of the query.
        query: Vec<u8>,
        /// The proposed observations.
        observations: Vec<AttributedObservation>,
    },
    /// Report attestation: the reports of a committed outcome.
    Reports {
        /// The outcome's seq-nr.
        seq_nr: u64,
        /// The outcome.
        outcome: Vec<u8>,
    },
    /// Transmission: accept this attested report for transmission?
    ShouldAccept {
        /// The outcome's seq-nr.
        seq_nr: u64,
        /// The report.
        report: ocr_plugin_api::ReportWithInfo,
    },
    /// Transmission: transmit this accepted report now?
    ShouldTransmit {
        /// The outcome's seq-nr.
        seq_nr: u64,
        /// The report.
        report: ocr_plugin_api::ReportWithInfo,
    },
}

/// A call and its id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginCall {
    /// The id to answer with.
    pub id: CallId,
    /// The call.
    pub request: PluginRequest,
}

/// What a call produced. `None`/`false` when the plugin failed: an error
/// means "no contribution", never more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginResponse {
    /// The query, if any.
    Query(Option<Vec<u8>>),
    /// The observation, if any.
    Observation(Option<Vec<u8>>),
    /// Whether the observation is valid.
    ValidateObservation(bool),
    /// Whether the quorum holds.
    ObservationQuorum(bool),
    /// The outcome, if the proposal was acceptable.
    ProposalOutcome(Option<Vec<u8>>),
    /// The reports, if any.
    Reports(Option<Vec<ReportPlus>>),
    /// Whether to accept the report (false on error).
    ShouldAccept(bool),
    /// Whether to transmit it now (false on error).
    ShouldTransmit(bool),
}

/// Runs a call on a plugin. Drivers use this; errors become "no
/// contribution" and are returned for logging.
pub fn execute(
    plugin: &mut dyn Plugin,
    request: &PluginRequest,
) -> (PluginResponse, Option<ocr_plugin_api::PluginCallError>) {
    match request {
        PluginRequest::Query { ctx } => split(plugin.query(ctx), PluginResponse::Query),
        PluginRequest::Observation { ctx, query } => split(plugin.observation(ctx, query), PluginResponse::Observation),
        PluginRequest::ValidateObservation { ctx, query, observation } => {
            match plugin.validate_observation(ctx, query, observation) {
                Ok(()) => (PluginResponse::ValidateObservation(true), None),
                Err(e) => (PluginResponse::ValidateObservation(false), Some(e)),
            }
        }
        PluginRequest::ObservationQuorum { ctx, query, observations } => {
            match plugin.observation_quorum(ctx, query, observations) {
                Ok(q) => (PluginResponse::ObservationQuorum(q), None),
                Err(e) => (PluginResponse::ObservationQuorum(false), Some(e)),
            }
        }
        PluginRequest::ProposalOutcome { ctx, query, observations } => {
            for observation in observations {
                if let Err(e) = plugin.validate_observation(ctx, query, observation) {
                    return (PluginResponse::ProposalOutcome(None), Some(e));
                }
            }
            match plugin.observation_quorum(ctx, query, observations) {
                Ok(true) => split(plugin.outcome(ctx, query, observations), PluginResponse::ProposalOutcome),
                Ok(false) => (PluginResponse::ProposalOutcome(None), None),
                Err(e) => (PluginResponse::ProposalOutcome(None), Some(e)),
            }
        }
        PluginRequest::Reports { seq_nr, outcome } => split(plugin.reports(*seq_nr, outcome), PluginResponse::Reports),
        PluginRequest::ShouldAccept { seq_nr, report } => match plugin.should_accept_attested_report(*seq_nr, report) {
            Ok(yes) => (PluginResponse::ShouldAccept(yes), None),
            Err(e) => (PluginResponse::ShouldAccept(false), Some(e)),
        },
        PluginRequest::ShouldTransmit { seq_nr, report } => {
            match plugin.should_transmit_accepted_report(*seq_nr, report) {
                Ok(yes) => (PluginResponse::ShouldTransmit(yes), None),
                Err(e) => (PluginResponse::ShouldTransmit(false), Some(e)),
            }
        }
    }
}

fn split<T>(
    result: Result<T, ocr_plugin_api::PluginCallError>,
    wrap: impl FnOnce(Option<T>) -> PluginResponse,
) -> (PluginResponse, Option<ocr_plugin_api::PluginCallError>) {
    match result {
        Ok(v) => (wrap(Some(v)), None),
        Err(e) => (wrap(None), Some(e)),
    }
}
