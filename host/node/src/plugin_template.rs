//! `ocr-node plugin new`: a new plugin crate from the template in
//! `host/node/templates/plugin`. As generated it builds to wasm32-wasip2,
//! and its unit tests and test-kit tests pass; it depends on the SDK and
//! the test kit of a checkout of this repository by path, and pins the
//! checkout's dependency versions (its `Cargo.lock`) so that it builds
//! with what the SDK was tested with.
//!
//! Nothing is overwritten: the directory must not exist, or be empty.

use std::path::{Path, PathBuf};

/// The template's files: (path in the new crate, text).
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../templates/plugin/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("../templates/plugin/lib.rs.tmpl")),
    ("tests/kit.rs", include_str!("../templates/plugin/kit.rs.tmpl")),
    ("README.md", include_str!("../templates/plugin/README.md.tmpl")),
    (".gitignore", include_str!("../templates/plugin/gitignore.tmpl")),
    ("rustfmt.toml", include_str!("../templates/plugin/rustfmt.toml.tmpl")),
];

/// Why a crate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The name is not usable as a crate name.
    #[error(
        "{0:?} is not a plugin name: use 1 to 64 lowercase letters, digits and '-', starting with a letter, not ending with '-'"
    )]
    BadName(String),
    /// The destination has files in it.
    #[error("{0} exists and is not empty")]
    NotEmpty(PathBuf),
    /// The checkout has no SDK.
    #[error(
        "{0} is not a checkout of the node's repository (no sdk/Cargo.toml and host/sim/Cargo.toml); pass --checkout"
    )]
    NoCheckout(PathBuf),
    /// The crate would be inside the checkout, whose workspace would then
    /// claim it (`plugins/*`) while it declares a workspace of its own.
    #[error("{0} is inside the checkout: make the plugin crate outside it")]
    InsideCheckout(PathBuf),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TemplateError + '_ {
    move |source| TemplateError::Io { path: path.to_path_buf(), source }
}

/// What `new` made.
#[derive(Debug)]
pub struct NewPlugin {
    /// The crate's directory.
    pub dir: PathBuf,
    /// The crate (library) name: the component is `<crate_name>.wasm`.
    pub crate_name: String,
    /// The plugin type's name.
    pub type_name: String,
}

/// Crate names the generated code cannot take: Rust keywords, and crates it
/// or its tests already name.
const RESERVED_CRATE_NAMES: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "ocr_plugin_sdk",
    "ocr_sim",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "serde",
    "serde_json",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// Type names already in scope where the generated code names the plugin
/// type.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Arc",
    "AttributedObservationRef",
    "Box",
    "DataSources",
    "Duration",
    "FaultClass",
    "KitReport",
    "Option",
    "OutcomeContext",
    "PathBuf",
    "PluginConfig",
    "PluginError",
    "PluginInfo",
    "PluginLimits",
    "Quorum",
    "ReportPlus",
    "ReportingPlugin",
    "Result",
    "Script",
    "SeqNr",
    "String",
    "TestKit",
    "Vec",
];

/// Whether `name` is a usable package name, and its crate and type names
/// collide with nothing the generated code uses.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && !name.ends_with('-')
        && !name.contains("--")
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    well_formed
        && !RESERVED_CRATE_NAMES.contains(&name.replace('-', "_").as_str())
        && !RESERVED_TYPE_NAMES.contains(&type_name(name).as_str())
}

/// `e2e-feed` → `E2eFeed`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The checkout this binary was built from, if it is still there.
pub fn default_checkout() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2)?.to_path_buf();
    root.join("sdk/Cargo.toml").is_file().then_some(root)
}

/// Makes the crate `name` in `dir`, depending on the SDK and test kit of
/// `checkout`.
pub fn new_plugin(name: &str, dir: &Path, checkout: &Path) -> Result<NewPlugin, TemplateError> {
    if !valid_name(name) {
        return Err(TemplateError::BadName(name.into()));
    }
    let checkout = checkout.canonicalize().map_err(io(checkout))?;
    if !checkout.join("sdk/Cargo.toml").is_file() || !checkout.join("host/sim/Cargo.toml").is_file() {
        return Err(TemplateError::NoCheckout(checkout));
    }
    if dir.exists() && dir.read_dir().map_err(io(dir))?.next().is_some() {
        return Err(TemplateError::NotEmpty(dir.to_path_buf()));
    }
    let absolute = std::path::absolute(dir).map_err(io(dir))?;
    if absolute.starts_with(&checkout) {
        return Err(TemplateError::InsideCheckout(absolute));
    }
    // The path goes into Cargo.toml strings as it is.
    let checkout_text = match checkout.to_str() {
        Some(text) if !text.contains(['"', '\\', '\n']) => text.to_owned(),
        _ => return Err(TemplateError::NoCheckout(checkout)),
    };
    let crate_name = name.replace('-', "_");
    let type_name = type_name(name);
    for (relative, template) in FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{type}}", &type_name)
            .replace("{{checkout}}", &checkout_text);
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    let lock = checkout.join("Cargo.lock");
    if lock.is_file() {
        let to = dir.join("Cargo.lock");
        std::fs::copy(&lock, &to).map_err(io(&to))?;
    }
    Ok(NewPlugin { dir: dir.to_path_buf(), crate_name, type_name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_turned_into_crate_and_type_names() {
        for good in ["feed", "e2e-feed", "por2"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Feed",
            "2feed",
            "feed-",
            "fe--ed",
            "fe_ed",
            "feed!",
            &"a".repeat(65),
            "std",
            "self",
            "serde-json",
            "test-kit",
            "reporting-plugin",
            "seq-nr",
            "result",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert_eq!(type_name("e2e-feed"), "E2eFeed");
        assert_eq!(type_name("por"), "Por");
    }

    #[test]
    fn makes_every_file_with_no_placeholder_left_and_never_overwrites() {
        let checkout = default_checkout().expect("tests run in the checkout");
        let dir = tempfile::tempdir().unwrap();
        let made = new_plugin("my-feed", &dir.path().join("my-feed"), &checkout).unwrap();
        assert_eq!((made.crate_name.as_str(), made.type_name.as_str()), ("my_feed", "MyFeed"));
        for (relative, _) in FILES {
            let text = std::fs::read_to_string(made.dir.join(relative)).unwrap();
            assert!(!text.contains("{{"), "{relative} keeps a placeholder");
        }
        let manifest = std::fs::read_to_string(made.dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("{}/sdk", checkout.canonicalize().unwrap().display())));
        assert!(made.dir.join("Cargo.lock").is_file());
        let again = new_plugin("my-feed", &made.dir, &checkout).unwrap_err();
        assert!(matches!(again, TemplateError::NotEmpty(_)), "{again}");
        let error = new_plugin("My-Feed", &dir.path().join("x"), &checkout).unwrap_err();
        assert!(matches!(error, TemplateError::BadName(_)), "{error}");
        let error = new_plugin("x", &dir.path().join("x"), dir.path()).unwrap_err();
        assert!(matches!(error, TemplateError::NoCheckout(_)), "{error}");
        let error = new_plugin("x", &checkout.join("plugins/x"), &checkout).unwrap_err();
        assert!(matches!(error, TemplateError::InsideCheckout(_)), "{error}");
    }
}
