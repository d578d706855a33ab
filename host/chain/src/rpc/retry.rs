//! Bounded retries of JSON-RPC requests, and the classification of failures
//! they rest on.
//!
//! Only failures that say nothing about the request itself are retried:
//! the connection (refused, reset, DNS), a request that timed out, HTTP 5xx
//! and 429, and JSON-RPC rate-limit errors. A JSON-RPC error response (a
//! revert, "nonce too low", an invalid parameter) is an answer and is never
//! retried here: the caller decides what it means. Backoff doubles from
//! `initial_backoff` up to `max_backoff`, at most `max_attempts` tries, each
//! bounded by `request_timeout` (reqwest has no default timeout, so a hung
//! endpoint would otherwise block a transmission forever).

use std::future::Future;
use std::time::Duration;

use alloy::rpc::json_rpc::RpcError;
use alloy::transports::{TransportError, TransportErrorKind};

use crate::bindings::RevertReason;
use crate::error::ChainError;

/// Tuning of [`RpcChain`](crate::RpcChain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcOptions {
    /// Bound on each request.
    pub request_timeout: Duration,
    /// Tries per request, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Cap on the delay between retries.
    pub max_backoff: Duration,
    /// How long to wait for a sent transaction's receipt.
    pub receipt_timeout: Duration,
    /// How often to ask for it, at most: the first asks come sooner (5 ms,
    /// doubling up to this), so that a chain which includes at once (anvil,
    /// fast L2s) is not waited on for a whole interval.
    pub receipt_poll_interval: Duration,
    /// Added to the gas estimate, in percent: the state can change between
    /// the estimate and inclusion.
    pub gas_margin_percent: u64,
}

impl Default for RpcOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            receipt_timeout: Duration::from_secs(120),
            receipt_poll_interval: Duration::from_millis(250),
            gas_margin_percent: 25,
        }
    }
}

/// Whether retrying the same request may succeed.
pub(crate) fn is_transient(error: &TransportError) -> bool {
    match error {
        RpcError::Transport(kind) => match kind {
            TransportErrorKind::HttpError(http) => http.status >= 500 || http.status == 429,
            TransportErrorKind::NonRetryable(_) | TransportErrorKind::PubsubUnavailable => false,
            // Connection refused or reset, DNS, timeouts: reqwest's errors
            // arrive as `Custom`; a missing batch response or a dead backend
            // task are transient as well.
            _ => true,
        },
        RpcError::ErrorResp(payload) => payload.is_retry_err(),
        _ => false,
    }
}

/// The revert data in a JSON-RPC error (eth_call, eth_estimateGas), if any.
pub(crate) fn revert_of(error: &ChainError) -> Option<RevertReason> {
    match error {
        ChainError::Rpc { source: RpcError::ErrorResp(payload), .. } => {
            payload.as_revert_data().map(|data| RevertReason::new(data.to_vec()))
        }
        _ => None,
    }
}

/// The JSON-RPC error message, if the node answered with an error.
pub(crate) fn error_message(error: &ChainError) -> Option<&str> {
    match error {
        ChainError::Rpc { source: RpcError::ErrorResp(payload), .. } => Some(payload.message.as_ref()),
        _ => None,
    }
}

impl RpcOptions {
    /// Runs `request` until it succeeds, fails for good, or the attempts
    /// run out.
    pub(crate) async fn retry<T, F, Fut>(&self, method: &'static str, mut request: F) -> Result<T, ChainError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, TransportError>>,
    {
        let max_attempts = self.max_attempts.max(1);
        let mut backoff = self.initial_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = match tokio::time::timeout(self.request_timeout, request()).await {
                Ok(result) => result,
                Err(_) => {
                    Err(TransportErrorKind::custom_str(&format!("request timed out after {:?}", self.request_timeout)))
                }
            };
            match result {
                Ok(value) => return Ok(value),
                Err(error) if attempt < max_attempts && is_transient(&error) => {
                    tracing::warn!(method, attempt, %error, ?backoff, "transient RPC failure, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
                Err(source) => return Err(ChainError::Rpc { method, attempts: attempt, source }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::rpc::json_rpc::ErrorPayload;
    use alloy::transports::HttpError;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RpcOptions {
        RpcOptions {
            request_timeout: Duration::from_millis(50),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            ..RpcOptions::default()
        }
    }

    fn http(status: u16) -> TransportError {
        RpcError::Transport(TransportErrorKind::HttpError(HttpError { status, body: String::new() }))
    }

    fn response(code: i64, message: &str) -> TransportError {
        RpcError::ErrorResp(ErrorPayload { code, message: message.to_owned().into(), data: None })
    }

    #[test]
    fn classification() {
        assert!(is_transient(&http(502)));
        assert!(is_transient(&http(429)));
        assert!(!is_transient(&http(400)));
        assert!(is_transient(&TransportErrorKind::custom_str("error sending request: connection refused")));
        assert!(!is_transient(&response(-32000, "nonce too low")));
        assert!(!is_transient(&response(3, "execution reverted")));
    }

    #[tokio::test]
    async fn retries_transient_failures_a_bounded_number_of_times() {
        let calls = AtomicU32::new(0);
        let result: Result<(), ChainError> = fast()
            .retry("eth_test", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(http(503)) }
            })
            .await;
        assert!(matches!(result, Err(ChainError::Rpc { attempts: 3, .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 3);

        let calls = AtomicU32::new(0);
        let result = fast()
            .retry("eth_test", || {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                async move { if n == 0 { Err(http(500)) } else { Ok(n) } }
            })
            .await;
        assert_eq!(result.ok(), Some(1));
    }

    #[tokio::test]
    async fn answers_are_not_retried_and_hung_requests_time_out() {
        let calls = AtomicU32::new(0);
        let result: Result<(), ChainError> = fast()
            .retry("eth_test", || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(response(-32000, "nonce too low")) }
            })
            .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let error = result.expect_err("an error answer");
        assert_eq!(error_message(&error), Some("nonce too low"));

        let result: Result<(), ChainError> =
            fast().retry("eth_test", std::future::pending::<Result<(), TransportError>>).await;
        assert!(matches!(result, Err(ChainError::Rpc { attempts: 3, .. })));
    }
}
