//! Configuration files: the node's own TOML ([`node`]) and the network config
//! every oracle of an instance shares ([`network`]). Errors name the file and
//! the field.

pub mod network;
pub mod node;

use std::path::{Path, PathBuf};

/// A config file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {reason}")]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not valid TOML for its schema (the message names the
    /// field, line and column).
    #[error("{file}: {reason}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A field has a value that cannot work.
    #[error("{file}: field `{field}`: {what}")]
    Field {
        /// The file.
        file: PathBuf,
        /// The field, dotted.
        field: String,
        /// What is wrong.
        what: String,
    },
}

impl ConfigFileError {
    fn read(file: &Path, error: &std::io::Error) -> Self {
        Self::Read { file: file.to_path_buf(), reason: error.to_string() }
    }

    fn syntax(file: &Path, error: &toml::de::Error) -> Self {
        Self::Syntax { file: file.to_path_buf(), reason: error.to_string().trim_end().replace('\n', " ") }
    }

    fn field(file: &Path, field: &str, what: String) -> Self {
        Self::Field { file: file.to_path_buf(), field: field.to_owned(), what }
    }
}
