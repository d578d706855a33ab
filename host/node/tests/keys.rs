//! `ocr-node keys generate` and `ocr-node keys show` as an operator runs them:
//! both password sources, a wrong password, and a refused overwrite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

const PASSWORD_VAR: &str = "OCR_NODE_KEYS_TEST_PASSWORD";

fn ocr_node(args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ocr-node"));
    command.args(args).env_remove(PASSWORD_VAR);
    if let Some(password) = password {
        command.env(PASSWORD_VAR, password);
    }
    command.output().expect("run ocr-node")
}

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "printed keys on failure");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "not a one-line error: {stderr}");
    stderr
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn generate_then_show_with_either_password_source() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let password_file = tmp.path().join("password");
    std::fs::write(&password_file, "s3cret pass\n").unwrap();

    // Standard scrypt cost here, as an operator would run it.
    let generated = stdout_json(&ocr_node(
        &["keys", "generate", "--dir", path(&dir), "--password-env", PASSWORD_VAR],
        Some("s3cret pass"),
    ));
    let fields: Vec<&String> = generated.as_object().unwrap().keys().collect();
    assert_eq!(fields.len(), 4, "{generated}");
    for field in ["offchain_public_key", "peer_id"] {
        let hex = generated[field].as_str().unwrap();
        assert!(hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{field}: {hex}");
    }
    for field in ["onchain_address", "transmitter_address"] {
        let address = generated[field].as_str().unwrap();
        assert!(address.len() == 42 && address.starts_with("0x"), "{field}: {address}");
    }
    for file in ["offchain.json", "peer.json", "onchain.json", "transmitter.json"] {
        assert!(dir.join(file).is_file(), "{file}");
    }

    let shown = stdout_json(&ocr_node(
        &["keys", "show", "--dir", path(&dir), "--password-env", PASSWORD_VAR],
        Some("s3cret pass"),
    ));
    assert_eq!(shown, generated);
    let shown =
        stdout_json(&ocr_node(&["keys", "show", "--dir", path(&dir), "--password-file", path(&password_file)], None));
    assert_eq!(shown, generated);

    let err = failure(&ocr_node(&["keys", "show", "--dir", path(&dir), "--password-env", PASSWORD_VAR], Some("guess")));
    assert!(err.contains("wrong password for") && err.contains("offchain.json"), "{err}");
}

#[test]
fn generate_refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");
    let generate = |extra: &[&str]| {
        let mut args = vec!["keys", "generate", "--light-kdf", "--dir", path(&dir), "--password-env", PASSWORD_VAR];
        args.extend_from_slice(extra);
        ocr_node(&args, Some("pw"))
    };
    let first = stdout_json(&generate(&[]));
    let err = failure(&generate(&[]));
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    let show =
        || stdout_json(&ocr_node(&["keys", "show", "--dir", path(&dir), "--password-env", PASSWORD_VAR], Some("pw")));
    assert_eq!(show(), first);

    let second = stdout_json(&generate(&["--force"]));
    assert_ne!(second, first);
    assert_eq!(show(), second);
}

#[test]
fn password_problems_are_clear_one_liners() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keys");

    let err = failure(&ocr_node(&["keys", "generate", "--dir", path(&dir), "--password-env", PASSWORD_VAR], None));
    assert!(err.contains(PASSWORD_VAR) && err.contains("not set"), "{err}");

    let empty = tmp.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let err = failure(&ocr_node(&["keys", "generate", "--dir", path(&dir), "--password-file", path(&empty)], None));
    assert!(err.contains("is empty"), "{err}");
    assert!(!dir.exists(), "nothing is written without a password");

    let missing = tmp.path().join("missing");
    let err = failure(&ocr_node(&["keys", "show", "--dir", path(&dir), "--password-file", path(&missing)], None));
    assert!(err.contains("cannot read password file"), "{err}");

    let err = failure(&ocr_node(&["keys", "show", "--dir", path(&dir), "--password-env", PASSWORD_VAR], Some("pw")));
    assert!(err.contains("missing key file") && err.contains("offchain.json"), "{err}");

    // clap insists on exactly one password source.
    let out = ocr_node(&["keys", "show", "--dir", path(&dir)], None);
    assert!(!out.status.success());
    let out = ocr_node(
        &["keys", "show", "--dir", path(&dir), "--password-env", PASSWORD_VAR, "--password-file", path(&empty)],
        Some("pw"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}
