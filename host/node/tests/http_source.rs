#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The HTTP JSON data source against a local HTTP server: the value at the
//! JSON pointer is read and scaled; a server error, a body that is not JSON
//! and a dead server all become clear errors once the last good value is
//! older than `max_age`, never a stale answer.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ocr_node::sources::{NodeSources, SourceSpec};
use ocr_plugin_sdk::DataSources;

/// A one-route HTTP/1.1 server answering every request with the current
/// (status, body).
fn serve(answer: Arc<Mutex<(u16, String)>>) -> (String, Arc<Mutex<bool>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let alive = Arc::new(Mutex::new(true));
    let running = alive.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if !*running.lock().unwrap() {
                // A dead server: accept and hang up without answering.
                continue;
            }
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let (status, body) = answer.lock().unwrap().clone();
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (format!("http://{address}/price"), alive)
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_json_values_are_read_scaled_and_refused_when_stale() {
    let answer = Arc::new(Mutex::new((200, r#"{"data":{"price":"3012.25"}}"#.to_owned())));
    let (url, alive) = serve(answer.clone());
    let spec = SourceSpec::Http {
        url,
        pointer: "/data/price".into(),
        timeout_ms: 500,
        interval_ms: 100,
        max_age_ms: 400,
        decimals: 2,
    };
    let sources = NodeSources::start(&BTreeMap::from([("eth-usd".to_owned(), spec)])).unwrap();
    eventually("the first value", || sources.read("eth-usd").is_ok()).await;
    assert_eq!(sources.read("eth-usd").unwrap(), "301225");
    assert_eq!(sources.read_integer("eth-usd").unwrap(), 301_225);

    *answer.lock().unwrap() = (200, r#"{"data":{"price":3013}}"#.to_owned());
    eventually("the new value", || sources.read("eth-usd").as_deref() == Ok("301300")).await;

    // A server error: the last value stays usable until it is too old,
    // then the error says why.
    *answer.lock().unwrap() = (500, "{}".to_owned());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(sources.read("eth-usd").unwrap(), "301300", "a fresh value survives one failed fetch");
    eventually("the error surfaces", || sources.read("eth-usd").is_err()).await;
    let error = sources.read("eth-usd").unwrap_err().to_string();
    assert!(error.contains("eth-usd") && error.contains("500"), "{error}");

    // Not JSON.
    *answer.lock().unwrap() = (200, "<html>".to_owned());
    eventually("the parse error surfaces", || {
        sources.read("eth-usd").is_err_and(|e| e.to_string().contains("not JSON"))
    })
    .await;

    // Back to normal, then the server dies.
    *answer.lock().unwrap() = (200, r#"{"data":{"price":1}}"#.to_owned());
    eventually("recovery", || sources.read("eth-usd").as_deref() == Ok("100")).await;
    *alive.lock().unwrap() = false;
    eventually("a dead server is an error, not a stale value", || sources.read("eth-usd").is_err()).await;

    assert!(sources.read("unknown").is_err());
}
