//! Inlet: serves Intake-style YAML catalogs as Arrow.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod cli;
pub mod encode;
pub mod registry;
pub mod service;
