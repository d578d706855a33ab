//! Static facts about a component, read with wasmparser before anything is
//! compiled: is it a component, which interfaces it imports and exports, at
//! which contract version, and its sha256. Cheap, and it rejects the wrong
//! file before the compiler sees it.

use sha2::{Digest, Sha256};
use wasmparser::{Parser, Payload};

use crate::error::LoadError;
use crate::wasi::import_allowed;

/// The contract version this host implements (`ocr:plugin@…`).
pub const CONTRACT_VERSION: &str = "0.1.0";

const EXPORTED_INTERFACE: &str = "ocr:plugin/reporting-plugin@";

/// What a component is, before it runs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ComponentInfo {
    /// sha256 of the component bytes, hex: the plugin's identity.
    pub sha256: String,
    /// Size in bytes.
    pub size: usize,
    /// The world it implements.
    pub world: String,
    /// The contract version it exports.
    pub contract_version: String,
    /// Interfaces it imports.
    pub imports: Vec<String>,
    /// Interfaces it exports.
    pub exports: Vec<String>,
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads the component's top-level imports and exports and checks them
/// against the contract. Does not compile.
pub fn inspect_component(bytes: &[u8], max_bytes: usize) -> Result<ComponentInfo, LoadError> {
    if bytes.len() > max_bytes {
        return Err(LoadError::TooLarge { size: bytes.len(), limit: max_bytes });
    }
    if Parser::is_core_wasm(bytes) {
        return Err(LoadError::NotAComponent(
            "this is a core wasm module; build the plugin for wasm32-wasip2 to get a component".into(),
        ));
    }
    if !Parser::is_component(bytes) {
        return Err(LoadError::NotAComponent("the file does not start with the component header".into()));
    }
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| LoadError::NotAComponent(e.to_string()))?;
        match payload {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.map_err(|e| LoadError::NotAComponent(e.to_string()))?;
                    imports.push(import.name.0.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.map_err(|e| LoadError::NotAComponent(e.to_string()))?;
                    exports.push(export.name.0.to_owned());
                }
            }
            _ => {}
        }
    }
    let contract_version = match exports.iter().find_map(|e| e.strip_prefix(EXPORTED_INTERFACE)) {
        Some(version) => version.to_owned(),
        None => return Err(LoadError::WrongWorld { exports }),
    };
    if !version_supported(&contract_version) {
        return Err(LoadError::UnsupportedVersion { found: contract_version, supported: CONTRACT_VERSION });
    }
    let forbidden: Vec<String> = imports.iter().filter(|i| !import_allowed(i)).cloned().collect();
    if !forbidden.is_empty() {
        return Err(LoadError::ForbiddenImports(forbidden));
    }
    Ok(ComponentInfo {
        sha256: sha256_hex(bytes),
        size: bytes.len(),
        world: format!("ocr:plugin/reporting-plugin-world@{contract_version}"),
        contract_version,
        imports,
        exports,
    })
}

/// Semver compatibility for 0.x: same minor version.
fn version_supported(found: &str) -> bool {
    let minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
    minor(found) == minor(CONTRACT_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_compatible_within_a_minor() {
        assert!(version_supported("0.1.0"));
        assert!(version_supported("0.1.7"));
        assert!(!version_supported("0.2.0"));
        assert!(!version_supported("1.1.0"));
    }

    #[test]
    fn garbage_and_core_modules_are_not_components() {
        assert!(matches!(inspect_component(b"hello", 1 << 20), Err(LoadError::NotAComponent(_))));
        let core = wat::parse_str("(module)").unwrap();
        let err = inspect_component(&core, 1 << 20).unwrap_err();
        assert!(err.to_string().contains("core wasm module"), "{err}");
        let empty = wat::parse_str("(component)").unwrap();
        assert!(matches!(inspect_component(&empty, 1 << 20), Err(LoadError::WrongWorld { .. })));
        assert!(matches!(inspect_component(&empty, 4), Err(LoadError::TooLarge { .. })));
    }
}
