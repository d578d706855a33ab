//! Named data sources configured by the node operator. A plugin receives them
//! only in `query` and `observation`, the two methods allowed to read the
//! outside world; the host enforces the same rule for every language.

use std::collections::BTreeMap;
use std::fmt;

/// Why reading a data source failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSourceError {
    /// No source of this name is configured on this node.
    Unknown(String),
    /// The source could not produce a value.
    Unavailable(String),
    /// Data sources are not callable from the current method.
    NotPermitted,
}

impl fmt::Display for DataSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => write!(f, "unknown data source {name:?}"),
            Self::Unavailable(why) => write!(f, "data source unavailable: {why}"),
            Self::NotPermitted => f.write_str("data sources are not callable from this method"),
        }
    }
}

impl std::error::Error for DataSourceError {}

impl From<DataSourceError> for crate::PluginError {
    fn from(e: DataSourceError) -> Self {
        crate::PluginError::DataSource(e.to_string())
    }
}

/// Read access to the operator's data sources.
pub trait DataSources {
    /// The current value of the named source, as text.
    fn read(&self, name: &str) -> Result<String, DataSourceError>;

    /// The time an observation is made at. The real clock by default; a
    /// simulator supplies virtual time, so simulated runs replay exactly.
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    /// The current value of a numeric source as an integer. The text must be
    /// a decimal integer (optionally signed); operators scale values in the
    /// source configuration.
    fn read_integer(&self, name: &str) -> Result<i128, DataSourceError> {
        let text = self.read(name)?;
        text.trim().parse::<i128>().map_err(|e| {
            DataSourceError::Unavailable(format!("source {name:?} returned {text:?}, not an integer: {e}"))
        })
    }
}

/// A fixed map of values: for tests and native runs.
#[derive(Clone, Debug, Default)]
pub struct StaticDataSources {
    values: BTreeMap<String, String>,
}

impl StaticDataSources {
    /// An empty set of sources.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a source.
    pub fn with(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.values.insert(name.into(), value.to_string());
        self
    }

    /// Sets a source's value.
    pub fn set(&mut self, name: impl Into<String>, value: impl ToString) {
        self.values.insert(name.into(), value.to_string());
    }
}

impl DataSources for StaticDataSources {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        self.values.get(name).cloned().ok_or_else(|| DataSourceError::Unknown(name.to_owned()))
    }
}

/// No sources at all.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDataSources;

impl DataSources for NoDataSources {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        Err(DataSourceError::Unknown(name.to_owned()))
    }
}
