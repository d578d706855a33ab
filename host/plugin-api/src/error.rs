//! Typed errors of plugin calls. A trap is classified when it happens, never
//! stringified first, so callers (and metrics) can tell fuel exhaustion from a
//! deadline from a panic.

use crate::Method;
use ocr_plugin_sdk::PluginError;
use std::fmt;

/// How a call was stopped by the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// The deterministic fuel budget ran out (an infinite loop in `outcome`).
    OutOfFuel,
    /// The wall-clock deadline passed (an infinite loop in `observation`).
    Deadline,
    /// The guest's stack overflowed (unbounded recursion).
    StackOverflow,
    /// Memory growth beyond the cap was refused.
    MemoryLimit,
    /// An access outside linear memory. For Rust guests this is what
    /// unbounded recursion ends in: their stack lives in linear memory and
    /// runs off its bottom before the engine's own stack limit is reached.
    MemoryOutOfBounds,
    /// The guest executed `unreachable`: a Rust panic under `panic = abort`.
    Panic,
    /// Any other trap (out-of-bounds access, bad conversion, ...).
    Other,
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrapKind::OutOfFuel => "out of fuel",
            TrapKind::Deadline => "deadline exceeded",
            TrapKind::StackOverflow => "stack overflow",
            TrapKind::MemoryLimit => "memory limit exceeded",
            TrapKind::MemoryOutOfBounds => "out-of-bounds memory access (a guest stack overflow, or a guest bug)",
            TrapKind::Panic => "panic",
            TrapKind::Other => "trap",
        })
    }
}

/// Why a plugin call produced no result. Every variant means "this oracle does
/// not contribute to this step"; none of them is fatal to the node.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PluginCallError {
    /// The plugin returned an error.
    #[error("plugin {method} failed: {error}")]
    Guest {
        /// The method called.
        method: Method,
        /// What the plugin said.
        error: PluginError,
    },
    /// The sandbox stopped the call. The instance was discarded; the next call
    /// runs on a fresh one.
    #[error("plugin {method} trapped: {kind}: {detail}")]
    Trap {
        /// The method called.
        method: Method,
        /// How it was stopped.
        kind: TrapKind,
        /// The runtime's description, for logs.
        detail: String,
    },
    /// An output exceeds the plugin's declared limit (or the OCR3 maximum).
    #[error("plugin {method} output too large: {what} is {len} bytes, the limit is {limit}")]
    OutputTooLarge {
        /// The method called.
        method: Method,
        /// Which output.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// More reports than the plugin declared (or than OCR3 allows).
    #[error("plugin reports returned {count} reports, the limit is {limit}")]
    TooManyReports {
        /// Number returned.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A result that is well-typed but invalid (e.g. a transmission schedule
    /// naming an oracle that does not exist).
    #[error("plugin {method} returned a malformed result: {reason}")]
    Malformed {
        /// The method called.
        method: Method,
        /// What is wrong.
        reason: String,
    },
    /// No instance could be built (the factory failed or was refused), so the
    /// call could not be made.
    #[error("plugin unavailable for {method}: {reason}")]
    Unavailable {
        /// The method called.
        method: Method,
        /// Why there is no instance.
        reason: String,
    },
    /// The instance was closed.
    #[error("plugin {method} called after close")]
    Closed {
        /// The method called.
        method: Method,
    },
}

impl PluginCallError {
    /// The method whose call failed.
    pub fn method(&self) -> Method {
        match self {
            Self::Guest { method, .. }
            | Self::Trap { method, .. }
            | Self::OutputTooLarge { method, .. }
            | Self::Malformed { method, .. }
            | Self::Unavailable { method, .. }
            | Self::Closed { method } => *method,
            Self::TooManyReports { .. } => Method::Reports,
        }
    }

    /// A short label for metrics: guest, trap kind, limit, malformed, ...
    pub fn kind_label(&self) -> &'static str {
        match self {
            Self::Guest { .. } => "guest_error",
            Self::Trap { kind, .. } => match kind {
                TrapKind::OutOfFuel => "out_of_fuel",
                TrapKind::Deadline => "deadline",
                TrapKind::StackOverflow => "stack_overflow",
                TrapKind::MemoryLimit => "memory_limit",
                TrapKind::MemoryOutOfBounds => "memory_out_of_bounds",
                TrapKind::Panic => "panic",
                TrapKind::Other => "trap",
            },
            Self::OutputTooLarge { .. } | Self::TooManyReports { .. } => "output_limit",
            Self::Malformed { .. } => "malformed",
            Self::Unavailable { .. } => "unavailable",
            Self::Closed { .. } => "closed",
        }
    }
}
