//! Intake-style YAML catalogs: parsing with positions, templating, user parameters, nesting.

pub mod caller;
pub mod diag;
pub mod fs;
pub mod model;
pub mod params;
pub mod parse;
pub mod redact;
mod split;
pub mod template;
pub mod tree;
pub mod view;
pub mod walk;
pub mod yaml;

pub use diag::{Diagnostic, Severity};
pub use model::{CatalogFile, Entry, Status};
pub use template::EnvPolicy;
pub use tree::{CatalogError, CatalogNode, Found, Library};
