//! Simulated data sources: a deterministic market in virtual time, seen by
//! each oracle with a little noise of its own, and virtual observation time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ocr_plugin_sdk::{DataSourceError, DataSources};

/// The simulation's clock, shared with every node's sources.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    /// Sets the virtual time (nanoseconds since the start).
    pub fn set(&self, nanos: u64) {
        self.0.store(nanos, Ordering::Relaxed);
    }

    /// The virtual time.
    pub fn nanos(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The virtual time as wall-clock time (from [`EPOCH_UNIX_SECONDS`]).
    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_SECONDS) + Duration::from_nanos(self.nanos())
    }
}

/// The simulated start of time, in Unix seconds.
pub const EPOCH_UNIX_SECONDS: u64 = 1_700_000_000;

/// One oracle's view of the market.
pub struct SimulatedSources {
    clock: VirtualClock,
    oracle: u8,
}

impl SimulatedSources {
    /// Sources for `oracle`.
    pub fn new(clock: VirtualClock, oracle: u8) -> Self {
        Self { clock, oracle }
    }

    /// The market price at `seconds`: a deterministic walk.
    pub fn market_price(seconds: u64) -> i128 {
        let wave = i128::from((seconds.wrapping_mul(7919) % 2001) as u16) - 1000;
        300_000_000_000 + wave * 100_000 + i128::from(seconds % 600) * 1_000_000
    }
}

impl DataSources for SimulatedSources {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        let seconds = self.clock.nanos() / 1_000_000_000;
        match name {
            "price" => {
                let noise = i128::from(self.oracle) * 1_000 - 1_500;
                Ok((Self::market_price(seconds) + noise).to_string())
            }
            "juels" => Ok("5000000000000000".into()),
            other => Err(DataSourceError::Unknown(other.into())),
        }
    }

    fn now(&self) -> SystemTime {
        self.clock.system_time()
    }
}
