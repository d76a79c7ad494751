//! Query strings: repeatable keys (`partition=1&partition=2`), `param.<name>=value`, pagination.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD as B64,
};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value as J;

use super::error::ApiError;
use crate::catalog::params::FieldError;

/// A parsed query string; every key must be consumed, the rest is a 422 naming them.
pub struct Query {
    pairs: Vec<(String, String)>,
    used: Vec<bool>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Query, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or("")).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-query",
                    format!("the query string cannot be parsed: {e}"),
                )
            })?;
        let used = vec![false; pairs.len()];
        Ok(Query { pairs, used })
    }

    fn take_all(&mut self, key: &str) -> Vec<String> {
        let mut out = vec![];
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if k == key {
                self.used[i] = true;
                out.push(v.clone());
            }
        }
        out
    }

    pub fn one(&mut self, key: &str) -> Option<String> {
        self.take_all(key).pop()
    }

    pub fn list(&mut self, key: &str) -> Vec<String> {
        self.take_all(key)
    }

    pub fn usize(&mut self, key: &str) -> Result<Option<usize>, ApiError> {
        self.one(key)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::invalid(
                        key,
                        format!("`{key}` must be a non-negative integer, got `{v}`"),
                    )
                })
            })
            .transpose()
    }

    /// `param.<name>=value` pairs, as caller-supplied parameter values.
    pub fn params(&mut self) -> BTreeMap<String, J> {
        let mut out = BTreeMap::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if let Some(name) = k.strip_prefix("param.") {
                self.used[i] = true;
                out.insert(name.to_string(), J::String(v.clone()));
            }
        }
        out
    }

    /// For routes whose only query parameters are `param.<name>=value`.
    pub fn params_only(raw: Option<&str>) -> Result<BTreeMap<String, J>, ApiError> {
        let mut q = Query::parse(raw)?;
        let params = q.params();
        q.finish(&["param.<name>"])?;
        Ok(params)
    }

    /// Refuses keys nobody asked for, so typos do not silently change nothing.
    pub fn finish(self, allowed: &[&str]) -> Result<(), ApiError> {
        let unknown: Vec<FieldError> = self
            .pairs
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .map(|((k, _), _)| FieldError {
                name: k.clone(),
                message: format!(
                    "unknown query parameter `{k}`; this route takes: {}",
                    allowed.join(", ")
                ),
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let detail = unknown
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-request", detail)
                .with_errors(unknown),
        )
    }
}

/// Any base64url text the OpenAPI pattern admits decodes: stray bits and padding are forgiven,
/// and a cursor that names no item simply starts after where that name would sort.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The OpenAPI pattern of page tokens (unpadded base64url of a whole number of bytes).
pub const PAGE_TOKEN_PATTERN: &str = "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$";

pub const MAX_PAGE: usize = 1000;
pub const DEFAULT_PAGE: usize = 100;

/// A page asked for: its size, and the name it starts after (from `page_token`).
pub struct PageRequest {
    pub size: usize,
    pub after: Option<String>,
}

/// Checks `page_size` (1..=[`MAX_PAGE`], default [`DEFAULT_PAGE`]) and decodes `page_token`.
pub fn page_request(
    page_size: Option<usize>,
    token: Option<String>,
) -> Result<PageRequest, ApiError> {
    let size = page_size.unwrap_or(DEFAULT_PAGE);
    if size == 0 || size > MAX_PAGE {
        return Err(ApiError::invalid(
            "page_size",
            format!("`page_size` must be between 1 and {MAX_PAGE}"),
        ));
    }
    let after = match token {
        None => None,
        Some(t) => Some(
            LENIENT
                .decode(&t)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "page_token",
                        "`page_token` is not a token this server issues (base64url): start again without it",
                    )
                })?,
        ),
    };
    Ok(PageRequest { size, after })
}

/// The `next_page_token` of a page that ends with `last`.
pub fn next_token(last: &str) -> String {
    B64.encode(last)
}

/// Cursor pagination over items sorted by name: the token is the last name of the page.
pub fn paginate<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    page_size: Option<usize>,
    token: Option<String>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let PageRequest { size, after } = page_request(page_size, token)?;
    let start = match &after {
        None => 0,
        Some(last) => items.partition_point(|i| name(i) <= last.as_str()),
    };
    let mut page: Vec<T> = items.into_iter().skip(start).take(size + 1).collect();
    let next = if page.len() > size {
        page.truncate(size);
        page.last().map(|i| next_token(name(i)))
    } else {
        None
    };
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_cursor_to_the_end() {
        let items: Vec<String> = (0..5).map(|i| format!("n{i}")).collect();
        let (p1, t1) = paginate(items.clone(), |s| s, Some(2), None).expect("p1");
        assert_eq!(p1, ["n0", "n1"]);
        let (p2, t2) = paginate(items.clone(), |s| s, Some(2), t1).expect("p2");
        assert_eq!(p2, ["n2", "n3"]);
        let (p3, t3) = paginate(items.clone(), |s| s, Some(2), t2).expect("p3");
        assert_eq!((p3, t3), (vec!["n4".to_string()], None));
        assert!(paginate(items.clone(), |s| s, Some(0), None).is_err());
        assert!(paginate(items, |s| s, None, Some("%%%".into())).is_err());
    }

    #[test]
    fn unknown_keys_are_refused_and_params_collected() {
        let mut q =
            Query::parse(Some("param.month=2&partition=1&partition=3&colums=a")).expect("parse");
        assert_eq!(q.params().get("month"), Some(&J::from("2")));
        assert_eq!(q.list("partition"), ["1", "3"]);
        let err = q.finish(&["columns", "partition"]).expect_err("typo");
        assert_eq!(err.problem.errors[0].name, "colums");
    }
}
