//! Target 3: query strings (`Query::parse` and every handler's parsing) on the metadata and
//! data routes of the real router, in-process. A quarter of the requests are made of valid
//! values only: those must succeed, with the rows and columns asked for.

use axum::http::Method;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use inlet::api::query::Query;

use crate::engine::{Target, Verdict};
use crate::http::{self, encode, headers, segment, value, Req, Server};

/// A query string from pairs, each encoded its own way, sometimes with stray separators.
fn query(rng: &mut fastrand::Rng, pairs: &[(String, String)]) -> String {
    let mut parts = vec![];
    for (k, v) in pairs {
        let k = encode(rng, k);
        parts.push(match rng.u8(..20) {
            0 => k,
            1 => format!("{k}={}", encode(rng, v)).replace('=', "=="),
            _ => format!("{k}={}", encode(rng, v)),
        });
        if rng.u8(..30) == 0 {
            parts.push(String::new());
        }
    }
    parts.join("&")
}

fn random_key(rng: &mut fastrand::Rng) -> String {
    [
        "param.",
        "param",
        "param..x",
        "PARAM.month",
        "columns ",
        "Columns",
        "colums",
        "limit[]",
        "partition[0]",
        "format",
        "q",
        "page_size",
        "",
        "=",
        "\u{0}",
    ][rng.usize(..15)]
    .to_string()
}

/// One request: a route, a (possibly mangled) name, query pairs and headers.
pub fn request(server: &Server, rng: &mut fastrand::Rng) -> Req {
    let src = &server.sources[rng.usize(..server.sources.len())];
    let route = rng.u8(..12);
    let valid = route >= 3 && !src.broken && rng.u8(..4) == 0;
    let mut pairs: Vec<(String, String)> = vec![];
    let token = |rng: &mut fastrand::Rng| {
        let n = &server.catalogs[rng.usize(..server.catalogs.len())];
        vec![
            B64.encode(n),
            B64.encode(format!("{n}\u{0}")),
            "%%%".into(),
            "AAAA".into(),
        ][rng.usize(..4)]
        .clone()
    };
    let page = |rng: &mut fastrand::Rng, pairs: &mut Vec<(String, String)>| {
        if rng.bool() {
            let sizes = ["1".to_string(), "2".into(), "1000".into(), "1001".into()];
            pairs.push(("page_size".into(), value(rng, &sizes)));
        }
        if rng.u8(..3) == 0 {
            let t = token(rng);
            pairs.push(("page_token".into(), t));
        }
    };
    let params = |rng: &mut fastrand::Rng, pairs: &mut Vec<(String, String)>| {
        for (name, values) in &src.params {
            if valid {
                if rng.bool() && !values.is_empty() {
                    pairs.push((
                        format!("param.{name}"),
                        values[rng.usize(..values.len())].clone(),
                    ));
                }
            } else if rng.u8(..3) > 0 {
                pairs.push((format!("param.{name}"), value(rng, values)));
            }
        }
        if !valid && rng.u8(..6) == 0 {
            let others = ["month", "region", "x", "", "file", "CATALOG_DIR"];
            pairs.push((format!("param.{}", others[rng.usize(..6)]), value(rng, &[])));
        }
    };
    let name = if valid {
        src.name.clone()
    } else {
        segment(rng, &src.name)
    };
    let mut req = Req::get("");
    req.source = Some(src.name.clone());
    match route {
        0 => {
            req.path = "/api/v1/catalogs".into();
            req.source = None;
            page(rng, &mut pairs);
        }
        1 => {
            let c = &server.catalogs[rng.usize(..server.catalogs.len())];
            req.path = format!("/api/v1/catalogs/{}", segment(rng, c));
            req.source = None;
            page(rng, &mut pairs);
        }
        2 => {
            req.path = "/api/v1/search".into();
            req.source = None;
            let words = ["trips", "sales", "", "a b", "\u{0}", "%", "month"];
            pairs.push(("q".into(), value(rng, &words.map(String::from))));
            page(rng, &mut pairs);
        }
        3..=5 => {
            req.path = format!("/api/v1/sources/{name}");
            params(rng, &mut pairs);
        }
        6 => {
            req.path = format!("/api/v1/sources/{name}/schema");
            params(rng, &mut pairs);
        }
        _ => {
            req.path = format!("/api/v1/sources/{name}/data");
            if rng.u8(..5) == 0 {
                req.method = Method::HEAD;
            }
            let cols = &src.columns;
            if rng.bool() && !cols.is_empty() {
                let chosen: Vec<String> = if valid {
                    let mut c = cols.clone();
                    rng.shuffle(&mut c);
                    c.truncate(rng.usize(1..=c.len()));
                    c
                } else {
                    (0..rng.usize(0..4)).map(|_| value(rng, cols)).collect()
                };
                pairs.push(("columns".into(), chosen.join(",")));
            }
            if rng.bool() {
                let limits = ["0".to_string(), "1".into(), "7".into(), "100".into()];
                let l = if valid {
                    limits[rng.usize(..4)].clone()
                } else {
                    value(rng, &limits)
                };
                pairs.push(("limit".into(), l));
            }
            // Parameters may change the partitions (a window selects fewer): valid requests
            // name partitions only with the default values.
            let defaults_only = src.params.is_empty();
            if rng.u8(..3) == 0 && src.partitions > 0 && (!valid || defaults_only) {
                let mut named = Vec::new();
                for _ in 0..rng.usize(1..=3) {
                    let p = if valid {
                        // Each partition once: a repeat is refused (422).
                        let p = rng.usize(..src.partitions);
                        if named.contains(&p) {
                            continue;
                        }
                        named.push(p);
                        p.to_string()
                    } else {
                        value(
                            rng,
                            &[(src.partitions - 1).to_string(), src.partitions.to_string()],
                        )
                    };
                    pairs.push(("partition".into(), p));
                }
            }
            if rng.u8(..3) == 0 {
                let formats =
                    ["arrow", "parquet", "csv", "ndjson", "ipc", "JSON", "pq"].map(String::from);
                // CSV cannot hold nested columns: that request is refused with a 422.
                let valid_formats: Vec<&String> = formats
                    .iter()
                    .filter(|f| !(src.nested && f.as_str() == "csv"))
                    .collect();
                let f = if valid {
                    valid_formats[rng.usize(..valid_formats.len())].clone()
                } else {
                    value(rng, &formats)
                };
                pairs.push(("format".into(), f));
            }
            params(rng, &mut pairs);
        }
    }
    if !valid && rng.u8(..40) == 0 {
        // A long value: lists and messages that grow with it must stay linear.
        let unit = [",", "a,", "fare,", "%", "param.", "0"][rng.usize(..6)];
        let key = ["columns", "partition", "q", "param.month", "format"][rng.usize(..5)];
        pairs.push((key.to_string(), unit.repeat(rng.usize(500..4000))));
    }
    if !valid && rng.u8(..5) == 0 {
        let k = random_key(rng);
        pairs.push((k, value(rng, &[])));
    }
    if !valid && rng.u8(..4) == 0 {
        rng.shuffle(&mut pairs);
        if !pairs.is_empty() && rng.bool() {
            let d = pairs[rng.usize(..pairs.len())].clone();
            pairs.push(d);
        }
    }
    req.query = if valid {
        Some(serde_urlencoded::to_string(&pairs).expect("encode"))
    } else if pairs.is_empty() && rng.bool() {
        None
    } else if rng.u8(..10) == 0 {
        // Raw junk, made URI-safe.
        let junk: String = (0..rng.usize(0..40)).map(|_| rng.char(..)).collect();
        Some(http::uri_safe(&junk))
    } else {
        Some(query(rng, &pairs))
    };
    if !valid {
        req.headers = headers(rng);
    }
    req.valid = valid;
    // The http crate refuses URIs over 64 KiB before any server sees them.
    if let Some(q) = req.query.as_mut().filter(|q| q.len() > 60_000) {
        q.truncate(60_000);
    }
    if axum::http::Uri::try_from(req.uri()).is_err() {
        req.query = req.query.map(|q| http::uri_safe(&q));
    }
    req
}

/// What a valid data request must return: at most `limit` rows, the columns asked for.
pub fn check_rows(req: &Req, seen: Option<(usize, Vec<String>)>) -> Result<(), String> {
    let Some((rows, columns)) = seen else {
        return Ok(());
    };
    let pairs = req.pairs();
    if let Some(limit) = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if rows > limit {
            return Err(format!("limit={limit} returned {rows} rows"));
        }
    }
    if let Some((_, cols)) = pairs.iter().rev().find(|(k, _)| k == "columns") {
        let want: Vec<&str> = cols
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        if !want.is_empty() && want != columns {
            return Err(format!("columns={cols} returned the columns {columns:?}"));
        }
    }
    Ok(())
}

pub fn target() -> Target<Req> {
    let server = std::sync::Arc::new(Server::start());
    let shared = server.clone();
    Target {
        name: "query",
        generate: Box::new(move |rng| request(&shared, rng)),
        check: Box::new(move |req| {
            // The parser itself, on the raw string, first.
            if let Ok(mut q) = Query::parse(req.query.as_deref()) {
                let _ = q.params();
                let _ = q.usize("limit");
                let _ = q.finish(&["columns"]);
            }
            let answer = server.send(req)?;
            let (verdict, seen) = http::check_answer(&server, req, &answer)?;
            if verdict == Verdict::Pass && req.valid {
                check_rows(req, seen)?;
            }
            Ok(verdict)
        }),
        shrink: Box::new(http::shrink),
        show: http::show,
    }
}
