//! Inlet: serves Intake-style YAML catalogs as Arrow.
#![forbid(unsafe_code)]

pub mod api;
pub mod batch_index;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod encode;
pub mod flight;
pub mod git;
pub mod registry;
pub mod revision;
pub mod search;
pub mod serve;
pub mod service;
pub mod store;
pub mod web;
