//! Keyed permutations: who leads each epoch and in which order oracles
//! transmit. Keys derive from the instance's shared secret (known to the
//! oracles only), so outsiders cannot predict leaders or transmitters.
//!
//! Leader of epoch e: with `span = e / n` and `index = e % n`, the leader is
//! `permutation(n, key(span))[index]`, so every n consecutive epochs visit
//! every oracle exactly once (reference §4). The shuffle is Fisher–Yates over
//! a SHA-256 counter stream; it is deterministic and agreed by all our nodes
//! but not bit-compatible with libocr's Go `math/rand` shuffle.

use hmac::{Hmac, Mac};
use ocr_plugin_sdk::ConfigDigest;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn hmac16(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    for part in parts {
        mac.update(part);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
    out
}

/// A deterministic permutation of `0..n` for `key`.
pub fn permutation(n: usize, key: &[u8; 16]) -> Vec<u8> {
    let mut items: Vec<u8> = (0..n).map(|i| i as u8).collect();
    let mut stream = Stream { key: *key, counter: 0, buffer: [0; 32], used: 32 };
    for i in (1..n).rev() {
        let j = stream.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
    items
}

/// SHA-256 in counter mode.
struct Stream {
    key: [u8; 16],
    counter: u64,
    buffer: [u8; 32],
    used: usize,
}

impl Stream {
    fn next_u64(&mut self) -> u64 {
        if self.used + 8 > self.buffer.len() {
            self.buffer =
                Sha256::new().chain_update(self.key).chain_update(self.counter.to_be_bytes()).finalize().into();
            self.counter += 1;
            self.used = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.buffer[self.used..self.used + 8]);
        self.used += 8;
        u64::from_be_bytes(word)
    }

    /// Uniform in `0..bound` (rejection sampling, no modulo bias).
    fn below(&mut self, bound: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % bound;
            }
        }
    }
}

/// The keys an instance derives from its shared secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermutationKeys {
    leader_selection: [u8; 16],
    transmission_order: [u8; 16],
}

impl PermutationKeys {
    /// Derives both keys from the 16-byte shared secret and the digest.
    pub fn new(shared_secret: &[u8; 16], config_digest: &ConfigDigest) -> Self {
        Self {
            leader_selection: hmac16(
                shared_secret,
                &[b"chainlink offchain reporting v3 leader selection key", &config_digest.0],
            ),
            transmission_order: hmac16(
                shared_secret,
                &[b"chainlink offchain reporting v3 transmission order key", &config_digest.0],
            ),
        }
    }

    /// The leader of `epoch` among `n` oracles.
    pub fn leader(&self, epoch: u64, n: usize) -> u8 {
        let n64 = n.max(1) as u64;
        let key = hmac16(&self.leader_selection, &[&(epoch / n64).to_be_bytes()]);
        permutation(n.max(1), &key)[(epoch % n64) as usize]
    }

    /// The key of report `index` of `seq_nr`'s transmission permutation.
    pub fn transmission_key(&self, seq_nr: u64, index: u64) -> [u8; 16] {
        hmac16(&self.transmission_order, &[&seq_nr.to_be_bytes(), &index.to_be_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_span_of_n_epochs_visits_every_oracle_once() {
        let keys = PermutationKeys::new(&[3; 16], &ConfigDigest([4; 32]));
        for n in [1usize, 4, 7, 31] {
            for span in 0..20u64 {
                let mut leaders: Vec<u8> = (0..n as u64).map(|i| keys.leader(span * n as u64 + i, n)).collect();
                leaders.sort_unstable();
                assert_eq!(leaders, (0..n as u8).collect::<Vec<_>>(), "n={n} span={span}");
            }
        }
    }

    #[test]
    fn leaders_depend_on_the_secret_and_the_instance() {
        let a = PermutationKeys::new(&[3; 16], &ConfigDigest([4; 32]));
        let b = PermutationKeys::new(&[5; 16], &ConfigDigest([4; 32]));
        let c = PermutationKeys::new(&[3; 16], &ConfigDigest([6; 32]));
        let seq = |k: &PermutationKeys| (1..=62).map(|e| k.leader(e, 31)).collect::<Vec<_>>();
        assert_ne!(seq(&a), seq(&b));
        assert_ne!(seq(&a), seq(&c));
        assert_eq!(seq(&a), seq(&a.clone()), "deterministic");
    }

    #[test]
    fn permutations_are_roughly_uniform() {
        // Position of oracle 0 over many keys: every position about equally often.
        let mut counts = [0u32; 4];
        for k in 0..4000u32 {
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&k.to_be_bytes());
            let p = permutation(4, &key);
            let at = p.iter().position(|o| *o == 0).unwrap();
            counts[at] += 1;
        }
        assert!(counts.iter().all(|c| (850..1150).contains(c)), "{counts:?}");
    }
}
