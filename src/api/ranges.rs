//! HTTP range requests (RFC 9110 §14): which bytes of a file an answer carries, and how it is
//! framed (200, 206 with `Content-Range`, or 206 `multipart/byteranges`). Pure: no I/O, so
//! every case is a unit test. Parsing is `http-range-header`'s (tower-http's own parser).

use std::ops::Range;

use axum::http::{header, HeaderName, StatusCode};
use chrono::{DateTime, Utc};
use http_range_header::{EndPosition, StartPosition};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Ranges {
    Whole,
    /// Half-open byte ranges, in the order asked, each inside the file.
    Parts(Vec<Range<u64>>),
}

/// Ranges one request may ask for: each is a storage request of its own, and readers ask for
/// a few (Parquet column chunks), not hundreds.
pub const MAX_RANGES: usize = 64;

/// The ranges a `Range` header asks of a file of `size` bytes; `Err` (why) when none can be
/// served (416). A unit other than `bytes` is ignored (the whole file), as RFC 9110 allows.
pub fn parse(value: &str, size: u64) -> Result<Ranges, String> {
    if !value.trim_start().starts_with("bytes=") {
        return Ok(Ranges::Whole);
    }
    // Counted before parsing: the parser compares every pair of ranges for overlaps.
    if value.matches(',').count() >= MAX_RANGES {
        return Err(format!(
            "the Range header asks for more than {MAX_RANGES} ranges: ask for fewer, or for one range covering them"
        ));
    }
    let mut parsed = http_range_header::parse_range_header(value.trim())
        .map_err(|e| format!("the Range header `{value}` is not a valid byte range ({e})"))?;
    if size == 0 {
        return Err("the file is empty: it has no byte ranges; ask without Range".into());
    }
    // A suffix longer than the file is the whole file (RFC 9110 §14.1.2), not an error.
    for r in &mut parsed.ranges {
        if let StartPosition::FromLast(n) = r.start {
            if n > size {
                r.start = StartPosition::Index(0);
                r.end = EndPosition::LastByte;
            }
        }
    }
    let valid = parsed.validate(size).map_err(|e| {
        format!(
            "the Range header `{value}` asks for no bytes inside the file of {size} bytes ({e})"
        )
    })?;
    Ok(Ranges::Parts(
        valid
            .into_iter()
            .map(|r| *r.start()..*r.end() + 1)
            .collect(),
    ))
}

/// One piece of a body: framing text around a range of the file (all of it when None).
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub head: String,
    pub range: Option<Range<u64>>,
    pub tail: String,
}

/// How an answer is framed: status, length, headers and the pieces of its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub status: StatusCode,
    pub length: u64,
    pub headers: Vec<(HeaderName, String)>,
    pub parts: Vec<Part>,
}

impl Body {
    pub fn plan(ranges: &Ranges, size: u64, content_type: &str) -> Body {
        let whole = |status| Body {
            status,
            length: size,
            headers: vec![(header::CONTENT_TYPE, content_type.to_string())],
            parts: vec![Part {
                head: String::new(),
                range: None,
                tail: String::new(),
            }],
        };
        match ranges {
            Ranges::Whole => whole(StatusCode::OK),
            Ranges::Parts(parts) => match parts.as_slice() {
                [] => whole(StatusCode::OK),
                [one] => Body {
                    status: StatusCode::PARTIAL_CONTENT,
                    length: one.end - one.start,
                    headers: vec![
                        (header::CONTENT_TYPE, content_type.to_string()),
                        (header::CONTENT_RANGE, content_range(one, size)),
                    ],
                    parts: vec![Part {
                        head: String::new(),
                        range: Some(one.clone()),
                        tail: String::new(),
                    }],
                },
                many => multipart(many, size, content_type),
            },
        }
    }
}

fn content_range(r: &Range<u64>, size: u64) -> String {
    format!("bytes {}-{}/{size}", r.start, r.end - 1)
}

fn multipart(ranges: &[Range<u64>], size: u64, content_type: &str) -> Body {
    let boundary = uuid::Uuid::new_v4().simple().to_string();
    let count = ranges.len();
    let parts: Vec<Part> = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| Part {
            head: format!(
                "{}--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: {}\r\n\r\n",
                if i == 0 { "" } else { "\r\n" },
                content_range(r, size)
            ),
            range: Some(r.clone()),
            tail: if i + 1 == count {
                format!("\r\n--{boundary}--\r\n")
            } else {
                String::new()
            },
        })
        .collect();
    let length = parts
        .iter()
        .map(|p| {
            let bytes = p.range.as_ref().map_or(size, |r| r.end - r.start);
            p.head.len() as u64 + bytes + p.tail.len() as u64
        })
        .sum();
    Body {
        status: StatusCode::PARTIAL_CONTENT,
        length,
        headers: vec![(
            header::CONTENT_TYPE,
            format!("multipart/byteranges; boundary={boundary}"),
        )],
        parts,
    }
}

/// An ETag as a header writes it: quoted (stores that give bare ones get quotes).
pub fn quoted(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/\"") {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

/// The opaque part of an entity tag, for comparisons (weak comparison drops `W/`).
fn opaque(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/")
}

/// Whether `If-None-Match` matches the file (`*` or one of its tags, weakly): then 304.
pub fn none_match(if_none_match: Option<&str>, etag: Option<&str>) -> bool {
    let (Some(given), Some(etag)) = (if_none_match, etag) else {
        return false;
    };
    given
        .split(',')
        .any(|t| t.trim() == "*" || opaque(t) == opaque(etag))
}

/// Whether a `Range` applies under `If-Range`: absent, the file's strong ETag, or its exact
/// modification date. Otherwise the whole file is sent (RFC 9110 §13.1.5).
pub fn if_range_holds(
    if_range: Option<&str>,
    etag: Option<&str>,
    last_modified: &DateTime<Utc>,
) -> bool {
    let Some(given) = if_range.map(str::trim) else {
        return true;
    };
    if given.starts_with('"') || given.starts_with("W/") {
        return !given.starts_with("W/")
            && etag.is_some_and(|e| !e.starts_with("W/") && e == given);
    }
    DateTime::parse_from_rfc2822(given).is_ok_and(|d| d.timestamp() == last_modified.timestamp())
}

/// An HTTP date (IMF-fixdate): `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: &DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The media type of a file, by its extension.
pub fn media_type(location: &str) -> &'static str {
    let lower = location.to_ascii_lowercase();
    if lower.ends_with(".parquet") || lower.ends_with(".pq") {
        "application/vnd.apache.parquet"
    } else if lower.ends_with(".csv") {
        "text/csv"
    } else if lower.ends_with(".avro") {
        "application/avro"
    } else {
        "application/octet-stream"
    }
}

// One byte range in a list is what a single-range request is, not a typo for a range's values.
#[allow(clippy::single_range_in_vec_init)]
#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: &str, size: u64) -> Vec<Range<u64>> {
        match parse(v, size) {
            Ok(Ranges::Parts(p)) => p,
            other => panic!("{v}: {other:?}"),
        }
    }

    #[test]
    fn byte_ranges_of_rfc_9110() {
        assert_eq!(parts("bytes=0-9", 100), vec![0..10]);
        assert_eq!(parts("bytes=90-", 100), vec![90..100]);
        assert_eq!(parts("bytes=-10", 100), vec![90..100]);
        assert_eq!(
            parts("bytes=95-200", 100),
            vec![95..100],
            "the end is clamped"
        );
        assert_eq!(
            parts("bytes=-500", 100),
            vec![0..100],
            "a long suffix is all"
        );
        assert_eq!(parts("bytes=0-1, 10-19", 100), vec![0..2, 10..20]);
        assert_eq!(
            parse("items=0-1", 100),
            Ok(Ranges::Whole),
            "other units are ignored"
        );
        for bad in [
            "bytes=100-",
            "bytes=5-2",
            "bytes=x-1",
            "bytes=-0",
            "bytes=0-5,3-9",
        ] {
            assert!(parse(bad, 100).is_err(), "{bad}");
        }
        assert!(
            parse("bytes=0-0", 0).is_err(),
            "an empty file has no ranges"
        );
        let many = |n: u64| {
            let list: Vec<String> = (0..n).map(|i| format!("{}-{}", i * 2, i * 2)).collect();
            format!("bytes={}", list.join(","))
        };
        assert_eq!(parts(&many(64), 1000).len(), 64);
        let refused = parse(&many(65), 1000).expect_err("too many ranges");
        assert!(refused.contains("more than 64"), "{refused}");
    }

    #[test]
    fn framing_counts_every_byte() {
        let one = Body::plan(&Ranges::Parts(vec![10..20]), 100, "text/csv");
        assert_eq!(one.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(one.length, 10);
        assert!(one
            .headers
            .contains(&(header::CONTENT_RANGE, "bytes 10-19/100".into())));
        let many = Body::plan(&Ranges::Parts(vec![0..2, 10..20]), 100, "text/csv");
        let text: u64 = many
            .parts
            .iter()
            .map(|p| (p.head.len() + p.tail.len()) as u64)
            .sum();
        assert_eq!(many.length, text + 12);
        assert!(many.parts[0].head.contains("Content-Range: bytes 0-1/100"));
        assert!(many.parts[1].tail.ends_with("--\r\n"));
        let whole = Body::plan(&Ranges::Whole, 100, "text/csv");
        assert_eq!((whole.status, whole.length), (StatusCode::OK, 100));
    }

    #[test]
    fn validators() {
        let modified = DateTime::parse_from_rfc3339("2024-05-01T10:20:30Z")
            .expect("date")
            .with_timezone(&Utc);
        let date = http_date(&modified);
        assert_eq!(date, "Wed, 01 May 2024 10:20:30 GMT");
        let etag = Some("\"abc\"");
        assert!(if_range_holds(None, etag, &modified));
        assert!(if_range_holds(Some("\"abc\""), etag, &modified));
        assert!(!if_range_holds(Some("\"old\""), etag, &modified));
        assert!(
            !if_range_holds(Some("W/\"abc\""), etag, &modified),
            "weak tags never hold"
        );
        assert!(if_range_holds(Some(&date), etag, &modified));
        assert!(!if_range_holds(
            Some("Tue, 30 Apr 2024 10:20:30 GMT"),
            etag,
            &modified
        ));
        assert!(none_match(Some("\"x\", W/\"abc\""), etag));
        assert!(none_match(Some("*"), etag));
        assert!(!none_match(Some("\"x\""), etag));
        assert_eq!(quoted("abc"), "\"abc\"");
    }
}
