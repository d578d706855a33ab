//! Host bindings generated from `wit/`, the single source of the contract.

#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "reporting-plugin-world",
});

pub use exports::ocr::plugin::reporting_plugin as guest;
pub use ocr::plugin::types as wit;
