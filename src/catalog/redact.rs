//! Secrets never leave the process: every output (CLI, HTTP, logs) goes through [`redact`].

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value as J;

pub const REDACTED: &str = "***";

static URL_PASSWORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(://[^:/@\s]+:)[^@/\s]+@").expect("valid regex"));

/// Query parameters of presigned and SAS URLs (S3, GCS, Azure) and bearer-style tokens.
static SIGNED_QUERY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)([?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|sig|signature|token|access_token|api_key|apikey|key|se|sp|sv|st|skoid|sktid|skt|ske|sks|skv|code)=)[^&\s\x22']+",
    )
    .expect("valid regex")
});

/// Server directories shown relative: (absolute directory, what it is shown as), longest first.
static SHOWN_ROOTS: std::sync::RwLock<Vec<(String, String)>> = std::sync::RwLock::new(Vec::new());

/// From now on, paths under these directories are shown relative to them in every redacted
/// text: `(directory, label)`, where the label replaces the directory (`""` shows the path
/// relative to it, `"[allowed]/"` marks an operator-allowed prefix). A server calls it once at
/// start unless the operator wants absolute paths shown (`show_server_paths`).
pub fn show_paths_relative_to(roots: Vec<(std::path::PathBuf, String)>) {
    let mut roots: Vec<(String, String)> = roots
        .into_iter()
        .map(|(p, label)| (p.to_string_lossy().trim_end_matches('/').to_string(), label))
        .filter(|(p, _)| p.len() > 1)
        .collect();
    roots.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
    roots.dedup_by(|a, b| a.0 == b.0);
    if let Ok(mut shown) = SHOWN_ROOTS.write() {
        *shown = roots;
    }
}

fn relative_paths(text: &str) -> Option<String> {
    let roots = SHOWN_ROOTS.read().ok()?;
    if roots.is_empty() || !roots.iter().any(|(p, _)| text.contains(p.as_str())) {
        return None;
    }
    let mut out = text.to_string();
    for (dir, label) in roots.iter() {
        out = out.replace(&format!("{dir}/"), label);
        // The directory itself (`.` for a catalog root).
        let shown = if label.is_empty() {
            "."
        } else {
            label.trim_end_matches('/')
        };
        out = out.replace(dir.as_str(), shown);
    }
    Some(out)
}

/// Any text with its credentials replaced by `***`: passwords in URLs and the signing query
/// parameters of presigned URLs; and server paths shown relative (see
/// [`show_paths_relative_to`]). Every message a server shows (answers, errors, health, logs)
/// goes through it, whatever layer wrote the message.
pub fn redact_text(text: &str) -> std::borrow::Cow<'_, str> {
    let has = |t: &str| t.contains("://") || t.contains('?') || t.contains('&');
    let Some(relative) = relative_paths(text) else {
        if !has(text) {
            return std::borrow::Cow::Borrowed(text);
        }
        return std::borrow::Cow::Owned(credentials(text));
    };
    std::borrow::Cow::Owned(if has(&relative) {
        credentials(&relative)
    } else {
        relative
    })
}

fn credentials(text: &str) -> String {
    let first = URL_PASSWORD.replace_all(text, format!("${{1}}{REDACTED}@"));
    SIGNED_QUERY
        .replace_all(&first, format!("${{1}}{REDACTED}"))
        .into_owned()
}

/// Whether a key names a credential (`key`, `secret`, `token`, `password`, `credentials`, ...).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "key"
        || k.ends_with("_key")
        || k.ends_with("-key")
        || k.ends_with("key_id")
        || matches!(k.as_str(), "pwd" | "auth" | "dsn" | "cookie" | "apikey")
        || k.starts_with("auth_")
        || k.ends_with("_auth")
        || k.ends_with("_pwd")
        || k.ends_with("_dsn")
        || [
            "secret",
            "token",
            "password",
            "passwd",
            "credential",
            "sas",
            "signature",
            "authorization",
            "api_key",
            "apikey",
            "cookie",
            "connection_string",
            "connectionstring",
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
            // A parameter declaration (`{name, default, allowed, ...}`) named like a secret: its
            // values are secrets too.
            let secret_param = map
                .get("name")
                .and_then(J::as_str)
                .is_some_and(is_secret_key)
                && (map.contains_key("default") || map.contains_key("allowed"));
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let masked = is_secret_key(k)
                    || (secret_param && matches!(k.as_str(), "default" | "allowed"));
                let v = if masked && !v.is_null() && !v.is_boolean() {
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
        J::String(s) => J::String(redact_text(s).into_owned()),
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

    #[test]
    fn presigned_urls_secret_parameters_and_more_key_names_are_redacted() {
        let text = "cannot read https://b.s3.amazonaws.com/x?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&x-id=GetObject and https://a.blob.core.windows.net/c/x?sv=2020&se=2030&sp=r&sig=zzz";
        let out = redact_text(text);
        for secret in ["AKIA", "abc123", "zzz", "sv=2020", "se=2030"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.contains("x-id=GetObject"), "{out}");
        let gcs = redact_text("https://storage.googleapis.com/b/o?X-Goog-Signature=f00&token=t0k");
        assert!(!gcs.contains("f00") && !gcs.contains("t0k"), "{gcs}");
        let v = redact(&json!({
            "pwd": "a", "apikey": "b", "api_key": "c", "auth": "d", "authorization": "e",
            "cookie": "f", "connection_string": "g", "dsn": "h", "author": "Jane",
            "parameters": [{"name": "db_password", "type": "str", "default": "hunter2"},
                           {"name": "region", "type": "str", "default": "eu"}]
        }));
        for k in [
            "pwd",
            "apikey",
            "api_key",
            "auth",
            "authorization",
            "cookie",
            "connection_string",
            "dsn",
        ] {
            assert_eq!(v[k], "***", "{k}");
        }
        assert_eq!(
            v["author"], "Jane",
            "a key that only starts like `auth` is not a secret"
        );
        assert_eq!(v["parameters"][0]["default"], "***");
        assert_eq!(v["parameters"][1]["default"], "eu");
    }
}
