//! Why a component could not be loaded. Every variant says what is wrong in
//! terms an operator can act on.

/// A component was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read plugin file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Over the size cap.
    #[error("the component is {size} bytes, over the {limit}-byte cap")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// Not a WebAssembly component at all.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// A component, but not of our world.
    #[error(
        "not a reporting plugin: the component does not export `ocr:plugin/reporting-plugin@{supported}` (it exports: {exports})",
        supported = crate::CONTRACT_VERSION,
        exports = if .exports.is_empty() { "nothing".to_owned() } else { .exports.join(", ") }
    )]
    WrongWorld {
        /// What it exports instead.
        exports: Vec<String>,
    },
    /// Our world, at a version this node does not support.
    #[error("the plugin implements contract version {found}; this node supports {supported}")]
    UnsupportedVersion {
        /// The version the component exports.
        found: String,
        /// The version this host implements.
        supported: &'static str,
    },
    /// Imports the sandbox does not provide (filesystem, sockets, ...).
    #[error("the component imports interfaces the sandbox does not provide: {}", .0.join(", "))]
    ForbiddenImports(Vec<String>),
    /// Compilation failed.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// The component's types do not match the world.
    #[error("the component does not match the ocr:plugin world: {0}")]
    Link(String),
    /// The compiled-artifact cache failed.
    #[error("compiled-artifact cache: {0}")]
    Cache(String),
    /// The engine could not be built.
    #[error("plugin engine: {0}")]
    Engine(String),
}
