//! Keys round-trip through their files, and every way a key directory can be
//! wrong gives an error naming the file instead of a panic or a bad key.

use super::*;
use rand::SeedableRng as _;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

fn light(overwrite: bool) -> SaveOptions {
    SaveOptions { overwrite, kdf: KdfCost::Light }
}

fn keys(seed: u64) -> NodeKeys {
    NodeKeys::generate(&mut rand::rngs::StdRng::seed_from_u64(seed)).unwrap()
}

/// A directory holding a saved key set, and that set.
fn saved() -> (tempfile::TempDir, NodeKeys) {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(1);
    keys.save_with(dir.path(), PASSWORD, &light(false)).unwrap();
    (dir, keys)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn write_json(path: &Path, json: &Value) {
    fs::write(path, serde_json::to_vec(json).unwrap()).unwrap();
}

/// Re-encrypts `path` to hold `plaintext`, with the file's own salt and cost,
/// so it opens with [`PASSWORD`] and only its content is wrong.
fn replace_plaintext(path: &Path, plaintext: &[u8]) {
    let mut json = read_json(path);
    let kdf: ScryptParamsJson = serde_json::from_value(json["crypto"]["kdfparams"].clone()).unwrap();
    let params = checked_scrypt_params(&kdf).unwrap();
    let derived = derive_key(PASSWORD, &hex::decode(&kdf.salt).unwrap(), &params).unwrap();
    let iv: [u8; 16] = hex::decode(json["crypto"]["cipherparams"]["iv"].as_str().unwrap()).unwrap().try_into().unwrap();
    let mut ciphertext = plaintext.to_vec();
    apply_aes_ctr(&derived, &iv, &mut ciphertext);
    json["crypto"]["mac"] = hex::encode(mac(&derived, &ciphertext)).into();
    json["crypto"]["ciphertext"] = hex::encode(ciphertext).into();
    write_json(path, &json);
}

fn file_of(err: &KeyError) -> &Path {
    match err {
        KeyError::MissingFile { path }
        | KeyError::CorruptFile { path, .. }
        | KeyError::WrongPassword { path }
        | KeyError::AlreadyExists { path }
        | KeyError::Io { path, .. } => path,
        KeyError::InvalidKey { path: Some(path), .. } => path,
        other => panic!("error names no file: {other:?}"),
    }
}

#[test]
fn save_then_load_gives_the_same_keys() {
    let (dir, keys) = saved();
    let loaded = NodeKeys::load(dir.path(), PASSWORD).unwrap();
    assert_eq!(loaded.public(), keys.public());
    assert_eq!(loaded.offchain_seed(), keys.offchain_seed());
    assert_eq!(loaded.peer_seed(), keys.peer_seed());
    assert_eq!(loaded.onchain_secret(), keys.onchain_secret());
    assert_eq!(loaded.transmitter_secret(), keys.transmitter_secret());
    // Four distinct keys, each with its own salt and IV.
    let public = keys.public();
    assert_ne!(public.offchain_public_key, public.peer_id);
    assert_ne!(public.onchain_address, public.transmitter_address);
    let salts: std::collections::HashSet<String> = KeyKind::ALL
        .iter()
        .map(|k| read_json(&dir.path().join(k.file_name()))["crypto"]["kdfparams"]["salt"].to_string())
        .collect();
    assert_eq!(salts.len(), 4);
}

#[test]
fn standard_cost_files_are_geth_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(2);
    keys.save(dir.path(), PASSWORD).unwrap();
    let json = read_json(&dir.path().join("onchain.json"));
    assert_eq!(json["version"], 3);
    assert_eq!(json["crypto"]["cipher"], "aes-128-ctr");
    assert_eq!(json["crypto"]["kdf"], "scrypt");
    assert_eq!(json["crypto"]["kdfparams"]["n"], 262_144);
    assert_eq!(json["crypto"]["kdfparams"]["r"], 8);
    assert_eq!(json["crypto"]["kdfparams"]["p"], 1);
    assert_eq!(json["crypto"]["kdfparams"]["dklen"], 32);
    assert_eq!(json["ocr_key"], "onchain");
    assert_eq!(json["address"], hex::encode(keys.public().onchain_address));
    let id = json["id"].as_str().unwrap();
    assert_eq!((id.len(), &id[14..15]), (36, "4"), "{id} is not a v4 UUID");
    assert!(read_json(&dir.path().join("peer.json")).get("address").is_none());
    assert_eq!(NodeKeys::load(dir.path(), PASSWORD).unwrap().public(), keys.public());
}

/// geth's own test vector (accounts/keystore/testdata/v3_test_vector.json),
/// so files from Ethereum tooling open and ours follow the same arithmetic.
#[test]
fn opens_the_geth_v3_scrypt_test_vector() {
    let dir = tempfile::tempdir().unwrap();
    let vector = serde_json::json!({
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": { "iv": "83dbcc02d8ccb40e466191a123791e0e" },
            "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
            "kdf": "scrypt",
            "kdfparams": {
                "dklen": 32, "n": 262144, "r": 1, "p": 8,
                "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"
            },
            "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"
        },
        "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
        "version": 3
    });
    let path = dir.path().join("transmitter.json");
    write_json(&path, &vector);
    let sealed = SealedKey::read(KeyKind::Transmitter, path).unwrap();
    let plaintext = sealed.open("testpassword").unwrap().unwrap();
    assert_eq!(hex::encode(&*plaintext), "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d");
    assert!(sealed.open("testpassword!").unwrap().is_none());
}

#[test]
fn onchain_address_is_the_ethereum_address_of_the_key() {
    let one = {
        let mut k = [0u8; 32];
        k[31] = 1;
        k
    };
    let two = {
        let mut k = [0u8; 32];
        k[31] = 2;
        k
    };
    // RFC 8032 §7.1 test 1.
    let rfc_seed: [u8; 32] =
        hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap().try_into().unwrap();
    let keys = NodeKeys::from_secrets(&rfc_seed, &[7; 32], &one, &two).unwrap();
    let public = keys.public();
    assert_eq!(public.onchain_address, alloy_primitives::address!("0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"));
    assert_eq!(public.transmitter_address, alloy_primitives::address!("0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"));
    assert_eq!(public.onchain_address, Address::from_private_key(keys.onchain_signing_key()));
    assert_eq!(public.transmitter_address, Address::from_private_key(keys.transmitter_signing_key()));
    assert_eq!(
        hex::encode(public.offchain_public_key),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    assert_eq!(keys.onchain_secret(), one);
    assert_eq!(keys.offchain_seed(), rfc_seed);
}

#[test]
fn secrets_that_are_no_secp256k1_key_are_refused() {
    let order: [u8; 32] =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap().try_into().unwrap();
    let one = [1; 32];
    let err = NodeKeys::from_secrets(&one, &one, &[0; 32], &one).unwrap_err();
    assert!(matches!(err, KeyError::InvalidKey { kind: KeyKind::Onchain, path: None, .. }), "{err:?}");
    let err = NodeKeys::from_secrets(&one, &one, &one, &order).unwrap_err();
    assert!(matches!(err, KeyError::InvalidKey { kind: KeyKind::Transmitter, .. }), "{err:?}");
    assert!(err.to_string().starts_with("invalid transmitter key: "), "{err}");
}

#[test]
fn wrong_password_names_the_file() {
    let (dir, _) = saved();
    let err = NodeKeys::load(dir.path(), "not the password").unwrap_err();
    assert!(matches!(err, KeyError::WrongPassword { .. }), "{err:?}");
    assert_eq!(file_of(&err), dir.path().join("offchain.json"));
    assert_eq!(err.to_string(), format!("wrong password for {}", dir.path().join("offchain.json").display()));
}

#[test]
fn missing_files_are_named() {
    let (dir, _) = saved();
    fs::remove_file(dir.path().join("transmitter.json")).unwrap();
    let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
    assert!(matches!(err, KeyError::MissingFile { .. }), "{err:?}");
    assert_eq!(file_of(&err), dir.path().join("transmitter.json"));
    assert!(err.to_string().contains("missing key file"), "{err}");

    let err = NodeKeys::load(&dir.path().join("nowhere"), PASSWORD).unwrap_err();
    assert_eq!(file_of(&err), dir.path().join("nowhere/offchain.json"));
}

#[test]
fn every_truncation_of_a_file_is_a_corrupt_file() {
    let (dir, _) = saved();
    let path = dir.path().join("peer.json");
    let whole = fs::read(&path).unwrap();
    // The last byte is the newline after the JSON; every shorter prefix is broken.
    for len in 0..whole.len() - 1 {
        fs::write(&path, &whole[..len]).unwrap();
        let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
        assert!(matches!(err, KeyError::CorruptFile { .. }), "prefix {len}: {err:?}");
        assert_eq!(file_of(&err), path);
    }
}

#[test]
fn damaged_fields_are_corrupt_files() {
    let (dir, _) = saved();
    let path = dir.path().join("onchain.json");
    let original = read_json(&path);
    type Damage = fn(&mut Value);
    let cases: [(&str, Damage, &str); 12] = [
        ("garbled ciphertext", |j| j["crypto"]["ciphertext"] = "zz-not-hex".into(), "ciphertext"),
        ("garbled mac", |j| j["crypto"]["mac"] = "0123".into(), "mac is 2 bytes"),
        ("missing iv", |j| j["crypto"]["cipherparams"] = serde_json::json!({}), "missing field `iv`"),
        ("other cipher", |j| j["crypto"]["cipher"] = "aes-256-gcm".into(), "unsupported cipher"),
        ("pbkdf2", |j| j["crypto"]["kdf"] = "pbkdf2".into(), "unsupported kdf"),
        ("version 4", |j| j["version"] = 4.into(), "keystore version 4"),
        ("n not a power of two", |j| j["crypto"]["kdfparams"]["n"] = 1000.into(), "power of two"),
        ("n of 2^40", |j| j["crypto"]["kdfparams"]["n"] = (1u64 << 40).into(), "beyond"),
        ("p of 2^31", |j| j["crypto"]["kdfparams"]["p"] = (1u64 << 31).into(), "beyond"),
        ("dklen 16", |j| j["crypto"]["kdfparams"]["dklen"] = 16.into(), "dklen"),
        ("bad address", |j| j["address"] = "xyz".into(), "address"),
        ("an array", |j| *j = serde_json::json!([1, 2, 3]), "not an Ethereum keystore"),
    ];
    for (what, damage, expected) in cases {
        let mut json = original.clone();
        damage(&mut json);
        write_json(&path, &json);
        let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
        assert!(matches!(err, KeyError::CorruptFile { .. }), "{what}: {err:?}");
        assert_eq!(file_of(&err), path, "{what}");
        assert!(err.to_string().contains(expected), "{what}: {err}");
    }
    fs::write(&path, vec![b' '; 100_000]).unwrap();
    let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
    assert!(err.to_string().contains("not a key file"), "{err}");
}

/// A MAC mismatch is a wrong password or a damaged file; when the same
/// password opens the other files, it is the file.
#[test]
fn a_flipped_byte_is_a_damaged_file_not_a_wrong_password() {
    for (kind, field) in [(KeyKind::Offchain, "ciphertext"), (KeyKind::Peer, "mac"), (KeyKind::Transmitter, "mac")] {
        let (dir, _) = saved();
        let path = dir.path().join(kind.file_name());
        let mut json = read_json(&path);
        let mut bytes = hex::decode(json["crypto"][field].as_str().unwrap()).unwrap();
        bytes[0] ^= 1;
        json["crypto"][field] = hex::encode(bytes).into();
        write_json(&path, &json);
        let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
        assert!(matches!(err, KeyError::CorruptFile { .. }), "{kind}: {err:?}");
        assert_eq!(file_of(&err), path);
        assert!(err.to_string().contains("MAC does not match"), "{err}");
    }
}

#[test]
fn wrong_contents_are_invalid_keys() {
    let (dir, keys) = saved();
    let onchain = dir.path().join("onchain.json");
    let original = fs::read(&onchain).unwrap();

    replace_plaintext(&onchain, &[5; 31]);
    let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
    assert!(matches!(err, KeyError::InvalidKey { kind: KeyKind::Onchain, .. }), "{err:?}");
    assert_eq!(file_of(&err), onchain);
    assert!(err.to_string().contains("31 bytes, expected 32"), "{err}");

    replace_plaintext(&onchain, &[0; 32]);
    let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
    assert!(err.to_string().contains("secp256k1 group order"), "{err}");

    // Another valid key, but the file's address field still names the old one.
    replace_plaintext(&onchain, &[5; 32]);
    let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
    assert!(matches!(err, KeyError::InvalidKey { kind: KeyKind::Onchain, .. }), "{err:?}");
    assert!(err.to_string().contains(&keys.public().onchain_address.to_string()), "{err}");

    // Swapped files are caught by their ocr_key field.
    fs::write(&onchain, &original).unwrap();
    fs::rename(dir.path().join("transmitter.json"), dir.path().join("tmp.json")).unwrap();
    fs::rename(&onchain, dir.path().join("transmitter.json")).unwrap();
    fs::rename(dir.path().join("tmp.json"), &onchain).unwrap();
    let err = NodeKeys::load(dir.path(), PASSWORD).unwrap_err();
    assert!(err.to_string().contains("holds the transmitter key, not the onchain key"), "{err}");
}

/// Keys made by other tools carry no ocr_key or address field, and still load.
#[test]
fn the_extra_fields_are_optional() {
    let (dir, keys) = saved();
    for kind in KeyKind::ALL {
        let path = dir.path().join(kind.file_name());
        let mut json = read_json(&path);
        let object = json.as_object_mut().unwrap();
        object.remove("ocr_key");
        object.remove("address");
        write_json(&path, &json);
    }
    assert_eq!(NodeKeys::load(dir.path(), PASSWORD).unwrap().public(), keys.public());
}

#[test]
fn existing_keys_are_not_overwritten_without_asking() {
    let (dir, first) = saved();
    let before: Vec<Vec<u8>> = KeyKind::ALL.iter().map(|k| fs::read(dir.path().join(k.file_name())).unwrap()).collect();
    let second = keys(99);
    let err = second.save_with(dir.path(), PASSWORD, &light(false)).unwrap_err();
    assert!(matches!(err, KeyError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(file_of(&err), dir.path().join("offchain.json"));
    let after: Vec<Vec<u8>> = KeyKind::ALL.iter().map(|k| fs::read(dir.path().join(k.file_name())).unwrap()).collect();
    assert_eq!(before, after);
    assert_eq!(NodeKeys::load(dir.path(), PASSWORD).unwrap().public(), first.public());

    // One leftover file is enough to refuse, and nothing else gets written.
    let partial = tempfile::tempdir().unwrap();
    fs::write(partial.path().join("transmitter.json"), b"{}").unwrap();
    let err = second.save_with(partial.path(), PASSWORD, &light(false)).unwrap_err();
    assert_eq!(file_of(&err), partial.path().join("transmitter.json"));
    assert!(!partial.path().join("offchain.json").exists());

    second.save_with(dir.path(), PASSWORD, &light(true)).unwrap();
    assert_eq!(NodeKeys::load(dir.path(), PASSWORD).unwrap().public(), second.public());
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 4, "{leftovers:?}");
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a/b/keys");
    keys(3).save_with(&dir, PASSWORD, &light(false)).unwrap();
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    for kind in KeyKind::ALL {
        let mode = fs::metadata(dir.join(kind.file_name())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{kind}");
    }
    keys(4).save_with(&dir, PASSWORD, &light(true)).unwrap();
    for kind in KeyKind::ALL {
        let mode = fs::metadata(dir.join(kind.file_name())).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{kind} after overwrite");
    }
}

#[test]
fn an_empty_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = keys(5).save(dir.path(), "").unwrap_err();
    assert!(matches!(err, KeyError::EmptyPassword { .. }), "{err:?}");
    assert!(!dir.path().join("offchain.json").exists());
}

#[test]
fn password_files_lose_one_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let read = |contents: &str| {
        let path = dir.path().join("password");
        fs::write(&path, contents).unwrap();
        PasswordSource::File(path).read()
    };
    assert_eq!(read("hunter2").unwrap().as_str(), "hunter2");
    assert_eq!(read("hunter2\n").unwrap().as_str(), "hunter2");
    assert_eq!(read("hunter2\r\n").unwrap().as_str(), "hunter2");
    assert_eq!(read("hunter2\n\n").unwrap().as_str(), "hunter2\n");
    assert_eq!(read(" spaced ").unwrap().as_str(), " spaced ");
    for empty in ["", "\n", "\r\n"] {
        let err = read(empty).unwrap_err();
        assert!(matches!(err, KeyError::EmptyPassword { .. }), "{empty:?}: {err:?}");
        assert!(err.to_string().contains("is empty") && err.to_string().contains("password file"), "{err}");
    }
    let missing = dir.path().join("no-such-file");
    let err = PasswordSource::File(missing.clone()).read().unwrap_err();
    assert!(err.to_string().starts_with(&format!("cannot read password file {}", missing.display())), "{err}");
}

#[test]
fn a_missing_password_variable_is_named() {
    let name = "OCR_NODE_TEST_SURELY_UNSET_PASSWORD_VARIABLE";
    let err = PasswordSource::Env(name.into()).read().unwrap_err();
    assert!(matches!(err, KeyError::PasswordEnvMissing { .. }), "{err:?}");
    assert!(err.to_string().contains(name), "{err}");
}

#[test]
fn public_keys_serialize_as_hex() {
    let keys = keys(6);
    let public = keys.public();
    let json = serde_json::to_value(public).unwrap();
    let object = json.as_object().unwrap();
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["offchain_public_key", "onchain_address", "peer_id", "transmitter_address"]);
    assert_eq!(json["offchain_public_key"], hex::encode(public.offchain_public_key));
    assert_eq!(json["peer_id"], hex::encode(public.peer_id));
    assert_eq!(json["onchain_address"], public.onchain_address.to_checksum(None));
    assert!(json["transmitter_address"].as_str().unwrap().starts_with("0x"));
    assert_eq!(serde_json::from_value::<PublicKeys>(json.clone()).unwrap(), public);

    // Lowercase addresses are fine; a mixed-case one must carry a correct checksum.
    let mut lower = json.clone();
    lower["onchain_address"] = json["onchain_address"].as_str().unwrap().to_lowercase().into();
    assert_eq!(serde_json::from_value::<PublicKeys>(lower).unwrap(), public);
    let mut bad = json.clone();
    bad["onchain_address"] = "0x7e5F4552091A69125d5DfCb7b8C2659029395Bdf".into();
    assert!(serde_json::from_value::<PublicKeys>(bad).is_err());
    let mut unprefixed = json.clone();
    unprefixed["onchain_address"] = hex::encode(public.onchain_address).into();
    assert!(serde_json::from_value::<PublicKeys>(unprefixed).is_err());
    let mut short = json;
    short["peer_id"] = "abcd".into();
    assert!(serde_json::from_value::<PublicKeys>(short).is_err());
}

#[test]
fn debug_output_shows_no_secret() {
    let keys = keys(7);
    let debug = format!("{keys:?}");
    assert!(debug.contains(&hex::encode(keys.public().peer_id)), "{debug}");
    for secret in [keys.offchain_seed(), keys.peer_seed(), keys.onchain_secret(), keys.transmitter_secret()] {
        assert!(!debug.contains(&hex::encode(secret)));
        assert!(!debug.contains(&format!("{secret:?}")));
    }
}

/// A generator stuck on one value must not yield keys.
#[test]
fn a_stuck_generator_is_refused() {
    struct Stuck(u8);
    impl RngCore for Stuck {
        fn next_u32(&mut self) -> u32 {
            u32::from(self.0)
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.0)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(self.0);
        }
    }
    impl CryptoRng for Stuck {}
    for byte in [0, 0x11, 0xff] {
        let err = NodeKeys::generate(&mut Stuck(byte)).unwrap_err();
        assert!(matches!(err, KeyError::Randomness(_)), "{byte}: {err:?}");
    }
}

#[test]
fn every_secret_zeroizes_on_drop() {
    fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}
    zeroizes_on_drop::<ed25519_dalek::SigningKey>();
    zeroizes_on_drop::<k256::ecdsa::SigningKey>();
    zeroizes_on_drop::<DerivedKey>();
    zeroizes_on_drop::<NodeKeys>();
}
