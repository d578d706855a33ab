//! Structured logging from a plugin into the node's log. In wasm the lines go
//! through the host's `logging` import (which adds plugin, method and seq-nr
//! and caps the volume); natively they become `tracing` events.

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

/// The host keeps at most this many fields per line.
pub const MAX_FIELDS: usize = 32;

/// Emits a log line with key/value fields (at most [`MAX_FIELDS`] are kept).
pub fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
    imp::log(level, message, fields);
}

/// Emits an info line.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    log(Level::Info, message, fields);
}

/// Emits a warning.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    log(Level::Warn, message, fields);
}

/// Emits a debug line.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    log(Level::Debug, message, fields);
}

/// Emits an error line.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    log(Level::Error, message, fields);
}

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{Level, MAX_FIELDS};
    use crate::guest::bindings::ocr::plugin::logging as wit;

    pub(super) fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let level = match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        };
        // The host reads at most MAX_FIELDS fields: do not copy more.
        let fields: Vec<(String, String)> =
            fields.iter().take(MAX_FIELDS).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        wit::log(level, message, &fields);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::Level;

    pub(super) fn log(level: Level, message: &str, fields: &[(&str, &str)]) {
        let fields = fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        match level {
            Level::Trace => tracing::trace!(target: "plugin", fields, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", fields, "{message}"),
            Level::Info => tracing::info!(target: "plugin", fields, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", fields, "{message}"),
            Level::Error => tracing::error!(target: "plugin", fields, "{message}"),
        }
    }
}
