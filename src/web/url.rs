//! URLs the pages write: path segments and query strings, percent-encoded.

/// `s` as one path segment (everything but unreserved characters percent-encoded).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `?k=v&...` (empty for no pairs).
pub fn query(pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    format!(
        "?{}",
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    )
}

pub fn source(name: &str) -> String {
    format!("/sources/{}", segment(name))
}

pub fn catalog(name: &str) -> String {
    format!("/catalogs/{}", segment(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_queries_are_encoded() {
        assert_eq!(segment("example.trips"), "example.trips");
        assert_eq!(segment("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(
            query(&[("q".into(), "a&b".into()), ("tag".into(), "x y".into())]),
            "?q=a%26b&tag=x+y"
        );
        assert_eq!(query(&[]), "");
        assert_eq!(source("c.\"><x"), "/sources/c.%22%3E%3Cx");
    }
}
