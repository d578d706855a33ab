//! A bounds-checked reader for the plugin's fixed binary layouts. Every
//! input that came from another oracle goes through it, so a short or
//! malformed buffer is an error, never a panic.

use ocr_plugin_sdk::PluginError;

/// Reads big-endian fields off a byte slice.
pub struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, which errors name as `what`.
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, what }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], PluginError> {
        let Some((head, rest)) = self.bytes.split_first_chunk::<N>() else {
            return Err(PluginError::invalid_input(format!("{} is truncated", self.what)));
        };
        self.bytes = rest;
        Ok(*head)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, PluginError> {
        Ok(self.take::<1>()?[0])
    }

    /// A u32.
    pub fn u32(&mut self) -> Result<u32, PluginError> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    /// A u64.
    pub fn u64(&mut self) -> Result<u64, PluginError> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    /// An i128.
    pub fn i128(&mut self) -> Result<i128, PluginError> {
        Ok(i128::from_be_bytes(self.take()?))
    }

    /// Checks the version byte.
    pub fn version(&mut self, expected: u8) -> Result<(), PluginError> {
        match self.u8()? {
            v if v == expected => Ok(()),
            v => Err(PluginError::invalid_input(format!("{} version {v} is not {expected}", self.what))),
        }
    }

    /// Fails unless every byte was read (layouts are canonical).
    pub fn finish(self) -> Result<(), PluginError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(PluginError::invalid_input(format!("{} has {} trailing bytes", self.what, self.bytes.len())))
        }
    }
}

/// Checks that `indices` are strictly ascending and below `feeds`.
pub fn check_feed_indices(indices: impl IntoIterator<Item = u8>, feeds: usize, what: &str) -> Result<(), PluginError> {
    let mut previous: Option<u8> = None;
    for index in indices {
        if usize::from(index) >= feeds {
            return Err(PluginError::invalid_input(format!("{what}: feed {index} does not exist")));
        }
        if previous.is_some_and(|p| index <= p) {
            return Err(PluginError::invalid_input(format!("{what}: feeds not strictly ascending")));
        }
        previous = Some(index);
    }
    Ok(())
}
