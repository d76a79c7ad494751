//! Target 5: tickets. `TicketKey::verify` with arbitrary strings (random, and genuine tickets
//! mutated: only a ticket this key signed may verify), and `GET /api/v1/tickets/{t}` in-process
//! with arbitrary tickets and with tickets genuinely signed over arbitrary claims (what a
//! replica sharing the key could send): never a panic, never a 500.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use inlet::service::tickets::{now, Claims};
use serde_json::Value as J;

use crate::engine::{Target, Verdict};
use crate::http::{self, Req, Server};
use crate::template::AValue;

#[derive(Debug, Clone)]
pub enum Case {
    /// `TicketKey::verify(text, revision)` directly.
    Verify(String),
    /// Redeemed over HTTP.
    Redeem(Req),
}

/// Claims as `arbitrary` imagines them.
#[derive(Debug, Clone, Arbitrary)]
struct AClaims {
    source: Option<String>,
    partitions: Option<Vec<u64>>,
    columns: Option<Vec<u8>>,
    stray_columns: Option<Vec<String>>,
    limit: Option<u64>,
    params: Vec<(u8, AValue)>,
    stale: bool,
    expires: u8,
}

/// A ticket string mutated as text: characters flipped, cut, moved, re-encoded.
fn mutate_ticket(rng: &mut fastrand::Rng, t: &str) -> String {
    let mut s: Vec<char> = t.chars().collect();
    for _ in 0..rng.usize(1..=3) {
        let n = s.len();
        match rng.u8(..8) {
            0 if n > 0 => {
                let i = rng.usize(..n);
                s[i] = rng.alphanumeric();
            }
            1 if n > 0 => {
                let i = rng.usize(..n);
                s[i] = ['.', '-', '_', '=', '+', '/', '%', '\u{0}', 'é'][rng.usize(..9)];
            }
            2 => {
                let i = rng.usize(..=n);
                s.truncate(i);
            }
            3 => {
                let i = rng.usize(..=n);
                s.insert(i, '.');
            }
            4 if n > 1 => {
                let i = rng.usize(..n);
                s.remove(i);
            }
            5 => {
                // Swap the two halves around the dot.
                let text: String = s.iter().collect();
                if let Some((a, b)) = text.split_once('.') {
                    s = format!("{b}.{a}").chars().collect();
                }
            }
            6 => {
                // Re-encode the signature with padding or the standard alphabet.
                let text: String = s.iter().collect();
                if let Some((a, b)) = text.split_once('.') {
                    let sig = B64.decode(b).unwrap_or_default();
                    let enc = if rng.bool() {
                        base64::engine::general_purpose::STANDARD.encode(sig)
                    } else {
                        base64::engine::general_purpose::URL_SAFE.encode(sig)
                    };
                    s = format!("{a}.{enc}").chars().collect();
                }
            }
            _ => {
                let extra: String = (0..rng.usize(1..8)).map(|_| rng.char(..)).collect();
                let i = rng.usize(..=n);
                for (k, c) in extra.chars().enumerate() {
                    s.insert(i + k, c);
                }
            }
        }
    }
    s.into_iter().collect()
}

/// Genuine tickets of valid plans of every readable source.
fn genuine(server: &Server) -> Vec<String> {
    let mut out = vec![];
    for src in server.sources.iter().filter(|s| !s.broken) {
        let mut r = Req::get(format!("/api/v1/sources/{}/plan", src.name));
        r.method = axum::http::Method::POST;
        r.body = b"{\"max_endpoints\": 2}".to_vec();
        let a = server.send(&r).expect("plan");
        assert_eq!(a.status, 200, "plan {}", src.name);
        let plan: J = serde_json::from_slice(&a.body.expect("body")).expect("json");
        for e in plan["endpoints"].as_array().expect("endpoints") {
            out.push(e["ticket"].as_str().expect("ticket").to_string());
        }
    }
    out
}

fn signed(server: &Server, rng: &mut fastrand::Rng) -> (String, Option<String>, bool) {
    let bytes: Vec<u8> = (0..rng.usize(8..200)).map(|_| rng.u8(..)).collect();
    let Ok(a) = AClaims::arbitrary(&mut Unstructured::new(&bytes)) else {
        return ("x.y".into(), None, false);
    };
    let src = &server.sources[rng.usize(..server.sources.len())];
    let source = match &a.source {
        Some(s) if rng.u8(..4) == 0 => s.clone(),
        _ => src.name.clone(),
    };
    let partitions = a.partitions.as_ref().map(|p| {
        p.iter()
            .map(|&i| {
                if rng.bool() && src.partitions > 0 {
                    (i % src.partitions as u64) as usize
                } else {
                    usize::try_from(i).unwrap_or(usize::MAX)
                }
            })
            .collect::<Vec<usize>>()
    });
    let mut columns = a.columns.as_ref().map(|c| {
        c.iter()
            .filter(|_| !src.columns.is_empty())
            .map(|i| src.columns[*i as usize % src.columns.len()].clone())
            .collect::<Vec<String>>()
    });
    if let Some(stray) = &a.stray_columns {
        columns
            .get_or_insert_with(Vec::new)
            .extend(stray.iter().cloned());
    }
    let mut params = BTreeMap::new();
    for (i, v) in &a.params {
        if let Some((name, values)) = src.params.get(*i as usize % src.params.len().max(1)) {
            let value = if rng.bool() && !values.is_empty() {
                J::String(values[rng.usize(..values.len())].clone())
            } else {
                v.to_json()
            };
            params.insert(name.clone(), value);
        }
    }
    let expires = match a.expires % 8 {
        0 => 0,
        1 => u64::MAX,
        2 => now().saturating_sub(1),
        _ => now() + 3600,
    };
    let claims = Claims {
        source,
        partitions,
        columns,
        limit: a.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
        params,
        revision: if a.stale {
            "an-older-revision".into()
        } else {
            server.revision.clone()
        },
        expires,
        token: None,
        data_version: None,
    };
    (server.key.sign(&claims), Some(claims.source.clone()), false)
}

pub fn case(server: &Server, tickets: &[String], rng: &mut fastrand::Rng) -> Case {
    let genuine = tickets[rng.usize(..tickets.len())].clone();
    let text = match rng.u8(..8) {
        0 => (0..rng.usize(0..64)).map(|_| rng.char(..)).collect(),
        1 => format!(
            "{}.{}",
            B64.encode(
                (0..rng.usize(0..64))
                    .map(|_| rng.u8(..))
                    .collect::<Vec<u8>>()
            ),
            B64.encode(
                (0..rng.usize(0..40))
                    .map(|_| rng.u8(..))
                    .collect::<Vec<u8>>()
            )
        ),
        2..=4 => mutate_ticket(rng, &genuine),
        _ => genuine,
    };
    if rng.u8(..3) == 0 {
        return Case::Verify(text);
    }
    let (ticket, source) = if rng.bool() {
        let (t, s, _) = signed(server, rng);
        (t, s)
    } else {
        (text, None)
    };
    let mut req = Req::get(format!(
        "/api/v1/tickets/{}",
        http::uri_safe(&ticket).replace(['/', '?'], "%2F")
    ));
    req.source = source;
    if rng.u8(..4) == 0 {
        let formats = ["arrow", "csv", "parquet", "ndjson", "xml", ""];
        req.query = Some(format!("format={}", formats[rng.usize(..formats.len())]));
    }
    if rng.u8(..4) == 0 {
        req.headers = http::headers(rng);
    }
    if axum::http::Uri::try_from(req.uri()).is_err() {
        req.path = "/api/v1/tickets/x".into();
    }
    Case::Redeem(req)
}

fn show(c: &Case) -> String {
    match c {
        Case::Verify(t) => format!("verify {t:?}"),
        Case::Redeem(r) => http::show(r),
    }
}

fn shrink(c: &Case) -> Vec<Case> {
    match c {
        Case::Verify(t) => crate::mutate::shrink_string(t)
            .into_iter()
            .map(Case::Verify)
            .collect(),
        Case::Redeem(r) => http::shrink(r).into_iter().map(Case::Redeem).collect(),
    }
}

pub fn target() -> Target<Case> {
    let server = std::sync::Arc::new(Server::start());
    let tickets = genuine(&server);
    let shared = server.clone();
    let known = tickets.clone();
    Target {
        name: "tickets",
        generate: Box::new(move |rng| case(&shared, &tickets, rng)),
        check: Box::new(move |c| match c {
            Case::Verify(t) => match server.key.verify(t, &server.revision) {
                Ok(_) if !known.contains(t) => {
                    Err(format!("a ticket this key never signed verified: {t:?}"))
                }
                _ => Ok(Verdict::Pass),
            },
            Case::Redeem(r) => server.check(r),
        }),
        shrink: Box::new(shrink),
        show,
    }
}
