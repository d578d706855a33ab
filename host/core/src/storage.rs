//! The durable state of one oracle, behind a small trait. The core asks for
//! a write with `Action::PersistPacemaker` / `Action::PersistCertificate`;
//! the driver calls [`Storage`] and performs no later action of the batch
//! until the call returned `Ok`, which must mean "durable" (flushed). That is
//! what keeps a restarted oracle from signing two things for one slot.

use ocr_plugin_sdk::ConfigDigest;

use crate::certificate::Certificate;
use crate::oracle::Persisted;
use crate::pacemaker::PacemakerState;

/// Durable per-instance state, keyed by config digest.
pub trait Storage: Send + Sync {
    /// The error of this storage.
    type Error: std::error::Error + Send + Sync + 'static;

    /// What instance `digest` persisted (empty for a new instance).
    fn load(&self, digest: &ConfigDigest) -> Result<Persisted, Self::Error>;

    /// Makes the pacemaker state durable before returning.
    fn persist_pacemaker(&self, digest: &ConfigDigest, state: &PacemakerState) -> Result<(), Self::Error>;

    /// Makes the certificate durable before returning.
    fn persist_certificate(&self, digest: &ConfigDigest, certificate: &Certificate) -> Result<(), Self::Error>;

    /// Whether [`Self::persist_certificate`] of `certificate` may wait for
    /// the device (a flush), so that an async caller should move it off its
    /// runtime thread. A write that only reaches the operating system takes
    /// microseconds, less than handing the thread's work to another one.
    fn certificate_write_waits_for_device(&self, digest: &ConfigDigest, certificate: &Certificate) -> bool {
        let _ = (digest, certificate);
        true
    }
}

/// Storage in memory: for tests and simulations (a crash is dropping it).
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: std::sync::Mutex<std::collections::HashMap<[u8; 32], Persisted>>,
}

/// The only way [`MemoryStorage`] fails.
#[derive(Debug, thiserror::Error)]
#[error("storage lock poisoned")]
pub struct Poisoned;

impl Storage for MemoryStorage {
    type Error = Poisoned;

    fn load(&self, digest: &ConfigDigest) -> Result<Persisted, Poisoned> {
        Ok(self.state.lock().map_err(|_| Poisoned)?.get(&digest.0).cloned().unwrap_or_default())
    }

    fn persist_pacemaker(&self, digest: &ConfigDigest, state: &PacemakerState) -> Result<(), Poisoned> {
        self.state.lock().map_err(|_| Poisoned)?.entry(digest.0).or_default().pacemaker = Some(*state);
        Ok(())
    }

    fn persist_certificate(&self, digest: &ConfigDigest, certificate: &Certificate) -> Result<(), Poisoned> {
        self.state.lock().map_err(|_| Poisoned)?.entry(digest.0).or_default().certificate = Some(certificate.clone());
        Ok(())
    }

    fn certificate_write_waits_for_device(&self, _: &ConfigDigest, _: &Certificate) -> bool {
        false
    }
}
