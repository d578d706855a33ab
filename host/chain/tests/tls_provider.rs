#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "https")]
//! `http_provider` must work as the first thing a process does. This file
//! holds one test so it runs in a process where nothing else (no
//! `RpcChain::connect`, no QUIC endpoint) has installed a rustls provider: a
//! provider built without one makes reqwest panic, which CI once hit when the
//! anvil test happened to build its own provider first.

use alloy::providers::Provider;
use ocr_chain::http_provider;

#[tokio::test]
async fn http_provider_works_before_anything_installed_tls() {
    assert!(rustls::crypto::CryptoProvider::get_default().is_none(), "this test must run in a fresh process");
    // Nothing listens on port 1: both schemes must fail as a transport error.
    for url in ["http://127.0.0.1:1", "https://127.0.0.1:1"] {
        let provider = http_provider(url.parse().unwrap());
        let error = provider.get_chain_id().await.expect_err("nothing listens on port 1");
        assert!(error.is_transport_error(), "{url}: {error}");
    }
}
