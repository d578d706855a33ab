//! The admin API: plugin management on a running node, over HTTP on a local
//! address, every request authenticated with a bearer token. Adds compile on
//! a blocking thread, so the protocol's runtime never waits for cranelift.
//!
//! - `GET /v1/plugins`: every plugin, its instances and per-method counters;
//! - `GET /v1/plugins/{sha256}`: one of them;
//! - `POST /v1/plugins[?offchain_config=HEX]`: add the component in the body;
//! - `DELETE /v1/plugins/{sha256}`: remove one no instance uses.
//!
//! Errors are `{"error": "..."}` with 400 (bad request), 401 (no or wrong
//! token), 404 (no such plugin), 409 (in use), 422 (component refused).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::plugin_store::{PluginStore, StoreError, parse_sha256};

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// Reads the admin token from `file` (trimmed), refusing a short one and
/// warning when others may read the file.
pub fn read_token(file: &Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(file).with_context(|| format!("admin_token_file {}", file.display()))?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(file) {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %file.display(), "the admin token file is readable by others; chmod 600 it");
        }
    }
    let token = token.trim().to_owned();
    anyhow::ensure!(
        token.len() >= MIN_TOKEN_LEN,
        "admin_token_file {}: the token has {} characters, at least {MIN_TOKEN_LEN} are needed",
        file.display(),
        token.len()
    );
    Ok(token)
}

#[derive(Clone)]
struct Admin {
    store: Arc<PluginStore>,
    token_sha256: [u8; 32],
}

/// Serves the admin API on `address` until the task is aborted.
pub async fn serve(
    address: SocketAddr,
    token: &str,
    store: Arc<PluginStore>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    // Room for a component at the cap, so the store's own check (with its
    // clear message) refuses what is over it; far larger bodies get 413.
    let body_limit = store.max_component_bytes().saturating_mul(2);
    let admin = Admin { store, token_sha256: Sha256::digest(token.as_bytes()).into() };
    let app = Router::new()
        .route("/v1/plugins", get(list).post(add))
        .route("/v1/plugins/{sha256}", get(show).delete(remove))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(admin.clone(), authenticate))
        .with_state(admin);
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "admin server stopped");
        }
    }))
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(serde_json::json!({ "error": message.to_string() }))).into_response()
}

fn store_error(e: &StoreError) -> Response {
    let status = match e {
        StoreError::NotFound(_) => StatusCode::NOT_FOUND,
        StoreError::InUse { .. } => StatusCode::CONFLICT,
        StoreError::BadSha256(_) => StatusCode::BAD_REQUEST,
        StoreError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        StoreError::Load(_) | StoreError::FactoryFailed(_) | StoreError::FactoryRefused { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    error(status, e)
}

async fn authenticate(State(admin): State<Admin>, headers: HeaderMap, request: Request, next: Next) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| <[u8; 32]>::from(Sha256::digest(token.trim().as_bytes())));
    // Comparing digests: the time taken says nothing about the token.
    if given == Some(admin.token_sha256) {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "admin request without a valid token refused");
        error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
    }
}

async fn list(State(admin): State<Admin>) -> Response {
    Json(admin.store.list()).into_response()
}

async fn show(State(admin): State<Admin>, UrlPath(sha256): UrlPath<String>) -> Response {
    let sha256 = match parse_sha256(&sha256) {
        Ok(sha256) => sha256,
        Err(e) => return store_error(&e),
    };
    match admin.store.list().into_iter().find(|p| p.component.sha256 == sha256) {
        Some(listing) => Json(listing).into_response(),
        None => store_error(&StoreError::NotFound(sha256)),
    }
}

#[derive(Deserialize)]
struct AddQuery {
    offchain_config: Option<String>,
}

async fn add(State(admin): State<Admin>, Query(query): Query<AddQuery>, body: Bytes) -> Response {
    let offchain = match query.offchain_config.map(hex::decode).transpose() {
        Ok(offchain) => offchain,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("offchain_config is not hex: {e}")),
    };
    let store = admin.store.clone();
    match tokio::task::spawn_blocking(move || store.add(&body, offchain)).await {
        Ok(Ok(report)) => Json(report).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "plugin add refused");
            store_error(&e)
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn remove(State(admin): State<Admin>, UrlPath(sha256): UrlPath<String>) -> Response {
    let sha256 = match parse_sha256(&sha256) {
        Ok(sha256) => sha256,
        Err(e) => return store_error(&e),
    };
    // File deletions and hashing the watched directory: off the runtime.
    let store = admin.store.clone();
    match tokio::task::spawn_blocking(move || store.remove(&sha256).map(|()| sha256)).await {
        Ok(Ok(sha256)) => Json(serde_json::json!({ "removed": sha256 })).into_response(),
        Ok(Err(e)) => store_error(&e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
