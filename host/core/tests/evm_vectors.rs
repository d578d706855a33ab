//! The EVM config digest against `tests/vectors/evm.json`, independent
//! vectors computed with Python's eth-abi (a copy of shared/vectors/evm.json).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ocr_core::ContractConfig;

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim_start_matches("0x");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn address(v: &serde_json::Value) -> [u8; 20] {
    unhex(v.as_str().unwrap()).try_into().unwrap()
}

#[test]
fn config_digest_matches_the_reference_vector() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("vectors/evm.json")).expect("vectors/evm.json parses");
    let v = &vectors["config_digest"];
    let i = &v["inputs"];
    let config = ContractConfig {
        chain_id: i["chain_id"].as_u64().unwrap(),
        contract: address(&i["contract"]),
        config_count: i["config_count"].as_u64().unwrap(),
        signers: i["signers"].as_array().unwrap().iter().map(address).collect(),
        transmitters: i["transmitters"].as_array().unwrap().iter().map(address).collect(),
        f: u8::try_from(i["f"].as_u64().unwrap()).unwrap(),
        onchain_config: unhex(i["onchain_config"].as_str().unwrap()),
        offchain_config_version: i["offchain_config_version"].as_u64().unwrap(),
        offchain_config: unhex(i["offchain_config"].as_str().unwrap()),
    };
    assert_eq!(config.digest().0.to_vec(), unhex(v["digest"].as_str().unwrap()));

    // Every input is bound: changing any one changes the digest.
    let original = config.digest();
    let mutations: [fn(&mut ContractConfig); 9] = [
        |c| c.chain_id += 1,
        |c| c.contract[0] ^= 1,
        |c| c.config_count += 1,
        |c| c.signers.swap(0, 1),
        |c| c.transmitters.swap(0, 1),
        |c| c.f += 1,
        |c| c.onchain_config.push(0),
        |c| c.offchain_config_version += 1,
        |c| c.offchain_config.push(0),
    ];
    for (i, mutate) in mutations.iter().enumerate() {
        let mut changed = config.clone();
        mutate(&mut changed);
        assert_ne!(changed.digest(), original, "mutation {i} left the digest unchanged");
        assert_eq!(changed.digest().0[..2], [0x00, 0x01], "the prefix stays");
    }
}
