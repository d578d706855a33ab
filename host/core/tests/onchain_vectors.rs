//! Report signatures against `tests/vectors/evm.json` (eth-account).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ocr_core::onchain::{OnchainKey, report_hash, verify};
use ocr_plugin_sdk::ConfigDigest;

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim_start_matches("0x");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn signatures_match_the_reference_vectors_and_verify_strictly() {
    let vectors: serde_json::Value = serde_json::from_str(include_str!("vectors/evm.json")).unwrap();
    let v = &vectors["report_signature"];
    let digest = ConfigDigest(unhex(v["config_digest"].as_str().unwrap()).try_into().unwrap());
    let seq_nr = v["seq_nr"].as_u64().unwrap();
    let report = unhex(v["report"].as_str().unwrap());
    assert_eq!(report_hash(&digest, seq_nr, &report).to_vec(), unhex(v["signed_hash"].as_str().unwrap()));
    for s in v["signatures"].as_array().unwrap() {
        let key = OnchainKey::from_bytes(&unhex(s["private_key"].as_str().unwrap()).try_into().unwrap()).unwrap();
        let address: [u8; 20] = unhex(s["address"].as_str().unwrap()).try_into().unwrap();
        assert_eq!(key.address(), address);
        let signature = key.sign(&digest, seq_nr, &report);
        assert_eq!(signature.to_vec(), unhex(s["signature_rsv"].as_str().unwrap()), "RFC 6979 gives the same bytes");
        assert!(verify(&address, &digest, seq_nr, &report, &signature));
        // Bound to the seq-nr, the digest, the report and the signer.
        assert!(!verify(&address, &digest, seq_nr + 1, &report, &signature));
        assert!(!verify(&address, &ConfigDigest([0; 32]), seq_nr, &report, &signature));
        assert!(!verify(&address, &digest, seq_nr, &report[1..], &signature));
        assert!(!verify(&[9; 20], &digest, seq_nr, &report, &signature));
        // The contract's rules: v in {0, 1}, low s, 65 bytes.
        let mut bad_v = signature;
        bad_v[64] = 27;
        assert!(!verify(&address, &digest, seq_nr, &report, &bad_v));
        assert!(!verify(&address, &digest, seq_nr, &report, &signature[..64]));
    }
}
