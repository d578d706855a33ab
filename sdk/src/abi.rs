//! The slice of the Ethereum ABI that report encoders need: `abi.encode` of a
//! flat tuple of static words, byte strings and arrays of integers, and the
//! readers to decode such reports again. Values are `i128`/`u128`, which fit
//! every `int192`/`uint192` field a price report uses; decoding refuses words
//! that do not fit instead of truncating them.

use std::fmt;

/// One ABI word.
pub type Word = [u8; 32];

/// Encodes a signed integer as a two's-complement `int<N>` word (N ≥ 128).
pub fn int_word(value: i128) -> Word {
    let mut word = if value < 0 { [0xff; 32] } else { [0; 32] };
    word[16..].copy_from_slice(&value.to_be_bytes());
    word
}

/// Encodes an unsigned integer as a `uint<N>` word (N ≥ 128).
pub fn uint_word(value: u128) -> Word {
    let mut word = [0; 32];
    word[16..].copy_from_slice(&value.to_be_bytes());
    word
}

/// A value in an `abi.encode` tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    /// `uintN` for N ≤ 256 (values up to u128).
    Uint(u128),
    /// `intN` for 128 ≤ N ≤ 256, e.g. `int192`.
    Int(i128),
    /// `bytes32`.
    FixedBytes32([u8; 32]),
    /// `address`.
    Address([u8; 20]),
    /// `bool`.
    Bool(bool),
    /// `bytes` (dynamic).
    Bytes(Vec<u8>),
    /// `intN[]` (dynamic), e.g. `int192[]`.
    IntArray(Vec<i128>),
    /// `uintN[]` (dynamic).
    UintArray(Vec<u128>),
}

impl Token {
    fn head(&self) -> Option<Word> {
        Some(match self {
            Token::Uint(v) => uint_word(*v),
            Token::Int(v) => int_word(*v),
            Token::FixedBytes32(b) => *b,
            Token::Address(a) => {
                let mut w = [0; 32];
                w[12..].copy_from_slice(a);
                w
            }
            Token::Bool(b) => uint_word(u128::from(*b)),
            Token::Bytes(_) | Token::IntArray(_) | Token::UintArray(_) => return None,
        })
    }

    fn tail(&self, out: &mut Vec<u8>) {
        match self {
            Token::Bytes(bytes) => {
                out.extend_from_slice(&uint_word(bytes.len() as u128));
                out.extend_from_slice(bytes);
                let pad = (32 - bytes.len() % 32) % 32;
                out.extend(std::iter::repeat_n(0u8, pad));
            }
            Token::IntArray(values) => {
                out.extend_from_slice(&uint_word(values.len() as u128));
                for v in values {
                    out.extend_from_slice(&int_word(*v));
                }
            }
            Token::UintArray(values) => {
                out.extend_from_slice(&uint_word(values.len() as u128));
                for v in values {
                    out.extend_from_slice(&uint_word(*v));
                }
            }
            _ => {}
        }
    }
}

/// `abi.encode(tokens...)`.
pub fn encode(tokens: &[Token]) -> Vec<u8> {
    let head_len = 32 * tokens.len();
    let mut heads = Vec::with_capacity(head_len);
    let mut tails = Vec::new();
    for token in tokens {
        match token.head() {
            Some(word) => heads.extend_from_slice(&word),
            None => {
                heads.extend_from_slice(&uint_word((head_len + tails.len()) as u128));
                token.tail(&mut tails);
            }
        }
    }
    heads.extend_from_slice(&tails);
    heads
}

/// Why ABI bytes could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbiError(pub String);

impl fmt::Display for AbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed ABI data: {}", self.0)
    }
}

impl std::error::Error for AbiError {}

/// Reads words from ABI-encoded bytes, bounds-checked.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// The word at byte offset `offset`.
    pub fn word_at(&self, offset: usize) -> Result<&'a Word, AbiError> {
        offset
            .checked_add(32)
            .and_then(|end| self.data.get(offset..end))
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| AbiError(format!("no word at offset {offset} of {} bytes", self.data.len())))
    }

    /// The `index`-th head word.
    pub fn word(&self, index: usize) -> Result<&'a Word, AbiError> {
        self.word_at(index.saturating_mul(32))
    }

    /// The `index`-th head word as an unsigned integer that fits in `u128`.
    pub fn uint(&self, index: usize) -> Result<u128, AbiError> {
        decode_uint(self.word(index)?)
    }

    /// The `index`-th head word as a signed integer that fits in `i128`.
    pub fn int(&self, index: usize) -> Result<i128, AbiError> {
        decode_int(self.word(index)?)
    }

    /// The dynamic `intN[]` whose offset is the `index`-th head word.
    pub fn int_array(&self, index: usize) -> Result<Vec<i128>, AbiError> {
        let offset = usize::try_from(self.uint(index)?).map_err(|_| AbiError("offset too large".into()))?;
        let len = usize::try_from(decode_uint(self.word_at(offset)?)?)
            .map_err(|_| AbiError("array length too large".into()))?;
        if len > self.data.len() / 32 {
            return Err(AbiError(format!("array length {len} exceeds the data")));
        }
        (0..len).map(|i| decode_int(self.word_at(offset + 32 * (i + 1))?)).collect()
    }
}

/// A `uint` word as `u128`, refusing larger values.
pub fn decode_uint(word: &Word) -> Result<u128, AbiError> {
    if word[..16].iter().any(|b| *b != 0) {
        return Err(AbiError("unsigned value does not fit in 128 bits".into()));
    }
    let mut low = [0u8; 16];
    low.copy_from_slice(&word[16..]);
    Ok(u128::from_be_bytes(low))
}

/// A signed word as `i128`, refusing values that are not the sign extension of
/// an `i128`.
pub fn decode_int(word: &Word) -> Result<i128, AbiError> {
    let mut low = [0u8; 16];
    low.copy_from_slice(&word[16..]);
    let value = i128::from_be_bytes(low);
    let sign = if value < 0 { 0xff } else { 0 };
    if word[..16].iter().any(|b| *b != sign) {
        return Err(AbiError("signed value does not fit in 128 bits".into()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{I256, U256, aliases::I192};
    use alloy_sol_types::{SolValue, sol_data};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn int_words_match_alloy(v: i128) {
            let ours = int_word(v);
            let alloy = I192::try_from(v).unwrap().abi_encode();
            prop_assert_eq!(&ours[..], &alloy[..]);
            prop_assert_eq!(decode_int(&ours).unwrap(), v);
        }

        #[test]
        fn tuples_match_alloy(ts: u32, tag: [u8; 32], values: Vec<i128>, last: i128, bytes: Vec<u8>) {
            let ours = encode(&[
                Token::Uint(ts.into()),
                Token::FixedBytes32(tag),
                Token::IntArray(values.clone()),
                Token::Int(last),
                Token::Bytes(bytes.clone()),
            ]);
            type T = (sol_data::Uint<32>, sol_data::FixedBytes<32>, sol_data::Array<sol_data::Int<192>>, sol_data::Int<192>, sol_data::Bytes);
            let values192: Vec<I192> = values.iter().map(|v| I192::try_from(*v).unwrap()).collect();
            let alloy = <T as alloy_sol_types::SolType>::abi_encode_params(&(
                ts, alloy_primitives::FixedBytes(tag), values192, I192::try_from(last).unwrap(), alloy_primitives::Bytes::from(bytes),
            ));
            prop_assert_eq!(&ours, &alloy);
            let reader = Reader::new(&ours);
            prop_assert_eq!(reader.int_array(2).unwrap(), values);
            prop_assert_eq!(reader.int(3).unwrap(), last);
        }
    }

    #[test]
    fn decoding_refuses_values_that_do_not_fit() {
        let big = I256::MAX.to_be_bytes::<32>();
        assert!(decode_int(&big).is_err());
        let big = U256::MAX.to_be_bytes::<32>();
        assert!(decode_uint(&big).is_err());
        assert!(Reader::new(&[0u8; 31]).word(0).is_err());
        // An array whose declared length runs past the data.
        let mut data = encode(&[Token::IntArray(vec![1, 2])]);
        data.truncate(data.len() - 32);
        assert!(Reader::new(&data).int_array(0).is_err());
    }
}
