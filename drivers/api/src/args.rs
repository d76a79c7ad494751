//! Typed access to rendered catalog args, remembering which were used so the rest can be
//! reported (catalogs carry args for other engines: `engine`, `chunks`, `consolidated`, ...).

use std::cell::RefCell;

use serde_json::{Map, Value as J};

use crate::{DriverError, Result};

pub struct Args<'a> {
    map: &'a Map<String, J>,
    used: RefCell<Vec<&'a str>>,
}

impl<'a> Args<'a> {
    pub fn new(map: &'a Map<String, J>) -> Self {
        Args {
            map,
            used: RefCell::new(vec![]),
        }
    }

    pub fn get(&self, key: &'a str) -> Option<&'a J> {
        self.used.borrow_mut().push(key);
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// An arg the driver cannot work without.
    pub fn required(&self, key: &'a str) -> Result<&'a J> {
        self.get(key)
            .ok_or_else(|| DriverError::bad_arg(key, "is required"))
    }

    pub fn str(&self, key: &'a str) -> Result<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(J::String(s)) => Ok(Some(s)),
            Some(other) => Err(DriverError::bad_arg(
                key,
                format!("expected a string, got {other}"),
            )),
        }
    }

    pub fn bool(&self, key: &'a str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(J::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(DriverError::bad_arg(
                key,
                format!("expected true or false, got {other}"),
            )),
        }
    }

    pub fn usize(&self, key: &'a str) -> Result<Option<usize>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    DriverError::bad_arg(key, format!("expected a non-negative integer, got {v}"))
                }),
        }
    }

    /// A string or a list of strings.
    pub fn strings(&self, key: &'a str) -> Result<Option<Vec<String>>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => strings(key, v).map(Some),
        }
    }

    /// Args present but never asked for, as warnings naming the driver.
    pub fn unused(&self, driver: &str) -> Vec<String> {
        let used = self.used.borrow();
        self.map
            .keys()
            .filter(|k| !used.contains(&k.as_str()))
            .map(|k| format!("arg `{k}` is not used by the {driver} driver and is ignored"))
            .collect()
    }
}

/// A string or a list of strings, for `key`.
pub fn strings(key: &str, v: &J) -> Result<Vec<String>> {
    match v {
        J::String(s) => Ok(vec![s.clone()]),
        J::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| DriverError::bad_arg(key, format!("expected strings, got {i}")))
            })
            .collect(),
        other => Err(DriverError::bad_arg(
            key,
            format!("expected a string or a list of strings, got {other}"),
        )),
    }
}
