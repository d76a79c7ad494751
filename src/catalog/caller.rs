//! What a caller's parameter values may do to rendered args. The catalog's text decides where
//! data lives; a caller only fills in the blanks it left:
//!
//! - a caller value never chooses the scheme or the authority (host, bucket, endpoint) of a URL,
//!   unless its parameter has `allowed` values the catalog's author listed;
//! - a caller value is literal: glob characters in it are refused, not expanded;
//! - no control characters (a NUL truncates paths in some layers) and no empty values (an empty
//!   value would silently widen `data/{{ name }}` to `data/`).
//!
//! The check renders the args a second time with each caller value replaced by a marker, and
//! looks at where the markers land.

use std::collections::BTreeMap;

use serde_json::Value as J;

use super::params::{FieldError, ParamSpec};

/// Private-use characters that cannot come from YAML text by accident.
const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';
const GLOB: &[char] = &['*', '?', '[', ']', '{', '}'];

fn marker(index: usize) -> String {
    format!("{OPEN}{index}{CLOSE}")
}

/// Caller values that must be checked: supplied strings (or lists of strings) of parameters with
/// no `allowed` list. Returns the names, in marker order.
fn checked_names<'a>(specs: &'a [ParamSpec], supplied: &BTreeMap<String, J>) -> Vec<&'a ParamSpec> {
    specs
        .iter()
        .filter(|s| supplied.contains_key(&s.name) && s.allowed.is_none())
        .collect()
}

/// Problems with the values themselves, before any rendering.
pub fn check_values(
    specs: &[ParamSpec],
    values: &BTreeMap<String, J>,
    supplied: &BTreeMap<String, J>,
) -> Vec<FieldError> {
    let mut errors = vec![];
    for spec in checked_names(specs, supplied) {
        let Some(value) = values.get(&spec.name) else {
            continue;
        };
        for s in strings(value) {
            let problem = if s.is_empty() {
                Some(
                    "is empty: give a value, or leave the parameter out to use its default"
                        .to_string(),
                )
            } else if s.chars().any(char::is_control) {
                Some("contains control characters (such as NUL): they are not accepted".to_string())
            } else if s.contains(GLOB) {
                Some("contains glob characters (* ? [ ] { }): caller values are literal names, not patterns".to_string())
            } else {
                None
            };
            if let Some(p) = problem {
                errors.push(FieldError {
                    name: spec.name.clone(),
                    message: format!("`{}` {p}", spec.name),
                });
                break;
            }
        }
    }
    errors
}

fn strings(value: &J) -> Vec<&str> {
    match value {
        J::String(s) => vec![s.as_str()],
        J::Array(items) => items.iter().filter_map(J::as_str).collect(),
        _ => vec![],
    }
}

/// `values` with each checked caller string replaced by its marker.
pub fn probe_values(
    specs: &[ParamSpec],
    values: &BTreeMap<String, J>,
    supplied: &BTreeMap<String, J>,
) -> Option<BTreeMap<String, J>> {
    let checked = checked_names(specs, supplied);
    if checked.is_empty() {
        return None;
    }
    let mut probe = values.clone();
    for (i, spec) in checked.iter().enumerate() {
        let replaced = match values.get(&spec.name) {
            Some(J::String(_)) => J::String(marker(i)),
            Some(J::Array(items)) => J::Array(
                items
                    .iter()
                    .map(|v| {
                        if v.is_string() {
                            J::String(marker(i))
                        } else {
                            v.clone()
                        }
                    })
                    .collect(),
            ),
            _ => continue,
        };
        probe.insert(spec.name.clone(), replaced);
    }
    Some(probe)
}

/// Errors for caller values that land in the scheme or authority of a URL in the args rendered
/// with [`probe_values`].
pub fn check_placement(
    specs: &[ParamSpec],
    values: &BTreeMap<String, J>,
    supplied: &BTreeMap<String, J>,
    probe_args: &J,
) -> Vec<FieldError> {
    let checked = checked_names(specs, supplied);
    let mut errors: Vec<FieldError> = vec![];
    let mut stack = vec![probe_args];
    while let Some(v) = stack.pop() {
        match v {
            J::String(s) => {
                for (index, at_start) in chooses_location(s) {
                    // A value that makes a whole string chooses a location only if it is a URL.
                    let url_like = |spec: &ParamSpec| {
                        values
                            .get(&spec.name)
                            .is_some_and(|v| strings(v).iter().any(|s| starts_url(s)))
                    };
                    if let Some(spec) = checked.get(index).filter(|s| !at_start || url_like(s)) {
                        if errors.iter().all(|e| e.name != spec.name) {
                            errors.push(FieldError {
                                name: spec.name.clone(),
                                message: format!(
                                    "`{}` would choose where data is read from (a URL scheme or host): \
                                     the catalog decides that; pass only the part of the path the catalog leaves open",
                                    spec.name
                                ),
                            });
                        }
                    }
                }
            }
            J::Array(items) => stack.extend(items.iter()),
            J::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    errors
}

/// `scheme:`, `//host` or `\\\\host`: text that names a location of its own.
fn starts_url(s: &str) -> bool {
    let t = s.trim_start();
    if t.starts_with("//") || t.starts_with("\\\\") {
        return true;
    }
    let scheme_len = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(t.len());
    scheme_len > 0
        && t[scheme_len..].starts_with(':')
        && t.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// Markers in `s` placed where they choose a scheme or an authority, with whether nothing
/// fixed precedes them (then only a URL-like value chooses).
fn chooses_location(s: &str) -> Vec<(usize, bool)> {
    let mut out = vec![];
    let mut rest = s;
    let mut offset = 0;
    while let Some(start) = rest.find(OPEN) {
        let at = offset + start;
        let prefix = &s[..at];
        let at_start = prefix.trim().is_empty();
        let choosing = match prefix.find("://") {
            // Inside `scheme://authority`: no `/` after the `://` yet.
            Some(i) => !prefix[i + 3..].contains('/'),
            // Nothing fixed before it: the value itself may start a URL (`s3://...`, `//host`).
            None => at_start || prefix.ends_with(':'),
        };
        let after = &rest[start + OPEN.len_utf8()..];
        let Some(end) = after.find(CLOSE) else { break };
        if choosing {
            if let Ok(i) = after[..end].parse::<usize>() {
                out.push((i, at_start));
            }
        }
        let consumed = start + OPEN.len_utf8() + end + CLOSE.len_utf8();
        offset += consumed;
        rest = &rest[consumed..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_in_scheme_or_authority_choose_the_location() {
        let m = marker(0);
        assert_eq!(chooses_location(&m), vec![(0, true)], "a whole urlpath");
        let bucket = chooses_location(&format!("s3://{m}/x"));
        assert_eq!(bucket, vec![(0, false)], "a bucket");
        let host = chooses_location(&format!("http://h{m}:9/x"));
        assert_eq!(host, vec![(0, false)], "a host part");
        assert!(chooses_location(&format!("s3://bucket/{m}.parquet")).is_empty());
        assert!(chooses_location(&format!("/data/{m}.csv")).is_empty());
        let two = format!("{}://{}/x", marker(1), marker(0));
        assert_eq!(chooses_location(&two), vec![(1, true), (0, false)]);
    }

    #[test]
    fn url_like_values_are_told_from_names() {
        for url in ["s3://b/x", "http://h", "//h/x", "file:/etc/passwd", "C:x"] {
            assert!(starts_url(url), "{url}");
        }
        for plain in ["2020", "data/x.csv", "x", "-1", ""] {
            assert!(!starts_url(plain), "{plain}");
        }
    }
}
