//! Durable records: the pacemaker state and the highest certificate, which
//! an oracle must read back after a crash to avoid signing twice in one
//! slot. Each record starts with [`STORAGE_VERSION`] so a later format can
//! read or refuse old records instead of misreading them. A corrupt record
//! is a [`DecodeError`], never a panic.

use crate::certificate::Certificate;
use crate::pacemaker::PacemakerState;

use super::DecodeError;
use super::codec::{self, Reader};

/// The first byte of every stored record.
pub const STORAGE_VERSION: u8 = 1;

fn version(reader: &mut Reader<'_>) -> Result<(), DecodeError> {
    match reader.u8("storage version")? {
        STORAGE_VERSION => Ok(()),
        found => Err(DecodeError::UnknownVersion { found, expected: STORAGE_VERSION }),
    }
}

/// The stored form of a certificate: version, then its wire form (tag and fields).
pub fn encode_certificate(certificate: &Certificate) -> Vec<u8> {
    let mut out = vec![STORAGE_VERSION];
    codec::put_certificate(&mut out, certificate);
    out
}

/// Reads a record written by [`encode_certificate`]. The record is not
/// checked against message limits (storage does not know them); the
/// protocol verifies the certificate when it uses it.
pub fn decode_certificate(bytes: &[u8]) -> Result<Certificate, DecodeError> {
    let mut reader = Reader::new(bytes);
    version(&mut reader)?;
    let certificate = reader.certificate()?;
    reader.finish()?;
    Ok(certificate)
}

/// The stored form of the pacemaker state: version, epoch, highest sent wish.
pub fn encode_pacemaker(state: &PacemakerState) -> Vec<u8> {
    let mut out = Vec::with_capacity(17);
    out.push(STORAGE_VERSION);
    out.extend_from_slice(&state.epoch.to_be_bytes());
    out.extend_from_slice(&state.highest_sent_wish.to_be_bytes());
    out
}

/// Reads a record written by [`encode_pacemaker`].
pub fn decode_pacemaker(bytes: &[u8]) -> Result<PacemakerState, DecodeError> {
    let mut reader = Reader::new(bytes);
    version(&mut reader)?;
    let epoch = reader.u64("pacemaker epoch")?;
    let highest_sent_wish = reader.u64("pacemaker highest sent wish")?;
    reader.finish()?;
    Ok(PacemakerState { epoch, highest_sent_wish })
}
