//! Secrets never leave the process: every output (CLI, HTTP, logs) goes through [`redact`].

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value as J;

pub const REDACTED: &str = "***";

static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(://[^:/@\s]+:)[^@/\s]+@").expect("valid regex"));

/// Whether a key names a credential (`key`, `secret`, `token`, `password`, `credentials`, ...).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "key"
        || k.ends_with("_key")
        || k.ends_with("-key")
        || k.ends_with("key_id")
        || [
            "secret",
            "token",
            "password",
            "passwd",
            "credential",
            "sas",
            "signature",
            "authorization",
        ]
        .iter()
        .any(|s| k.contains(s))
}

/// A copy of `value` with every credential replaced by `***`, at any depth, including passwords
/// embedded in URLs (`s3://user:pass@host`).
pub fn redact(value: &J) -> J {
    // Plain loops rather than iterator chains: in debug builds each adapter is a stack frame per
    // nesting level, and caller values may nest 128 levels below the catalog's own.
    match value {
        J::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let v = if is_secret_key(k) && !v.is_null() && !v.is_boolean() {
                    J::String(REDACTED.into())
                } else {
                    redact(v)
                };
                out.insert(k.clone(), v);
            }
            J::Object(out)
        }
        J::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                out.push(redact(v));
            }
            J::Array(out)
        }
        J::String(s) if s.contains("://") => J::String(
            URL_PASSWORD
                .replace_all(s, format!("${{1}}{REDACTED}@"))
                .into_owned(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_are_redacted_at_any_depth() {
        let args = json!({
            "urlpath": "s3://bucket/x.parquet",
            "storage_options": {"key": "AKIA", "secret": "s", "anon": false, "token": "t",
                "client_kwargs": {"endpoint_url": "http://h", "aws_secret_access_key": "z"}},
            "password": "p",
            "db": "postgres://u:hunter2@host/db",
            "columns": ["a", "key"]
        });
        let out = redact(&args);
        assert_eq!(out["storage_options"]["key"], "***");
        assert_eq!(out["storage_options"]["secret"], "***");
        assert_eq!(out["storage_options"]["token"], "***");
        assert_eq!(out["storage_options"]["anon"], false);
        assert_eq!(
            out["storage_options"]["client_kwargs"]["aws_secret_access_key"],
            "***"
        );
        assert_eq!(
            out["storage_options"]["client_kwargs"]["endpoint_url"],
            "http://h"
        );
        assert_eq!(out["password"], "***");
        assert_eq!(out["db"], "postgres://u:***@host/db");
        assert_eq!(out["columns"], json!(["a", "key"]));
        assert_eq!(out["urlpath"], "s3://bucket/x.parquet");
    }
}
