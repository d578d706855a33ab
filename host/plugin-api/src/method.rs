//! The plugin's methods, as a value: for errors, metrics and sandbox policy.

use std::fmt;

/// A method of the plugin contract (the factory included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// The factory, `create`.
    Create,
    /// `query`.
    Query,
    /// `observation`.
    Observation,
    /// `validate-observation`.
    ValidateObservation,
    /// `observation-quorum`.
    ObservationQuorum,
    /// `outcome`.
    Outcome,
    /// `reports`.
    Reports,
    /// `should-accept-attested-report`.
    ShouldAcceptAttestedReport,
    /// `should-transmit-accepted-report`.
    ShouldTransmitAcceptedReport,
    /// `close`.
    Close,
}

impl Method {
    /// Every method, in contract order.
    pub const ALL: [Method; 10] = [
        Method::Create,
        Method::Query,
        Method::Observation,
        Method::ValidateObservation,
        Method::ObservationQuorum,
        Method::Outcome,
        Method::Reports,
        Method::ShouldAcceptAttestedReport,
        Method::ShouldTransmitAcceptedReport,
        Method::Close,
    ];

    /// Whether every honest node must get the same result from this method.
    /// The factory counts: its info (limits) must agree across nodes.
    pub fn is_deterministic(self) -> bool {
        matches!(
            self,
            Method::Create
                | Method::ValidateObservation
                | Method::ObservationQuorum
                | Method::Outcome
                | Method::Reports
        )
    }

    /// Whether the method may read data sources.
    pub fn may_read_data_sources(self) -> bool {
        matches!(self, Method::Query | Method::Observation)
    }

    /// The WIT name of the method.
    pub fn wit_name(self) -> &'static str {
        match self {
            Method::Create => "create",
            Method::Query => "query",
            Method::Observation => "observation",
            Method::ValidateObservation => "validate-observation",
            Method::ObservationQuorum => "observation-quorum",
            Method::Outcome => "outcome",
            Method::Reports => "reports",
            Method::ShouldAcceptAttestedReport => "should-accept-attested-report",
            Method::ShouldTransmitAcceptedReport => "should-transmit-accepted-report",
            Method::Close => "close",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wit_name())
    }
}
