//! Target 4: plan bodies: `POST /api/v1/sources/{s}/plan` with arbitrary bytes, arbitrary JSON
//! (`arbitrary` values shaped like a plan request), mutated JSON and valid plans. A valid
//! plan must succeed, and every ticket it hands out must redeem to the rows it promised.

use arbitrary::{Arbitrary, Unstructured};
use axum::http::Method;
use serde_json::{json, Map, Value as J};

use crate::engine::{Target, Verdict};
use crate::http::{self, Req, Server};
use crate::template::{AValue, INTERESTING};

/// A number where the plan wants one, or something else.
#[derive(Debug, Clone, Arbitrary)]
enum ANum {
    Small(u8),
    Big(u64),
    Negative(i64),
    Float(f64),
    Text(String),
    Null,
    Other(AValue),
}

impl ANum {
    fn to_json(&self) -> J {
        match self {
            ANum::Small(n) => J::from(*n),
            ANum::Big(n) => J::from(*n),
            ANum::Negative(n) => J::from(*n),
            ANum::Float(f) => J::from(*f),
            ANum::Text(s) => J::String(s.clone()),
            ANum::Null => J::Null,
            ANum::Other(v) => v.to_json(),
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
enum AColumns {
    /// Indices into the source's columns.
    Known(Vec<u8>),
    Names(Vec<String>),
    Interesting(Vec<u8>),
    Other(AValue),
}

#[derive(Debug, Clone, Arbitrary)]
enum AParams {
    /// Values for the declared parameters (by index), arbitrary values.
    Declared(Vec<(u8, AValue)>),
    /// Valid values of the declared parameters (by index).
    Valid(Vec<(u8, u8)>),
    Named(Vec<(String, AValue)>),
    Other(AValue),
}

/// A plan request as `arbitrary` imagines it.
#[derive(Debug, Clone, Arbitrary)]
struct APlan {
    columns: Option<AColumns>,
    limit: Option<ANum>,
    params: Option<AParams>,
    max_endpoints: Option<ANum>,
    extra: Option<(String, AValue)>,
    /// Serialized as something other than an object.
    not_an_object: Option<AValue>,
}

fn plan_json(p: &APlan, src: &http::SourceInfo) -> J {
    if let Some(v) = &p.not_an_object {
        return v.to_json();
    }
    let mut m = Map::new();
    if let Some(c) = &p.columns {
        m.insert(
            "columns".into(),
            match c {
                AColumns::Known(ix) if !src.columns.is_empty() => J::Array(
                    ix.iter()
                        .map(|i| J::String(src.columns[*i as usize % src.columns.len()].clone()))
                        .collect(),
                ),
                AColumns::Known(_) => json!([]),
                AColumns::Names(n) => json!(n),
                AColumns::Interesting(ix) => J::Array(
                    ix.iter()
                        .map(|i| J::String(INTERESTING[*i as usize % INTERESTING.len()].into()))
                        .collect(),
                ),
                AColumns::Other(v) => v.to_json(),
            },
        );
    }
    if let Some(l) = &p.limit {
        m.insert("limit".into(), l.to_json());
    }
    if let Some(e) = &p.max_endpoints {
        m.insert("max_endpoints".into(), e.to_json());
    }
    if let Some(ps) = &p.params {
        let declared = |i: u8| src.params.get(i as usize % src.params.len().max(1));
        m.insert(
            "params".into(),
            match ps {
                AParams::Declared(v) => J::Object(
                    v.iter()
                        .filter_map(|(i, val)| {
                            declared(*i).map(|(n, _)| (n.clone(), val.to_json()))
                        })
                        .collect(),
                ),
                AParams::Valid(v) => J::Object(
                    v.iter()
                        .filter_map(|(i, j)| {
                            let (n, values) = declared(*i)?;
                            let val = values.get(*j as usize % values.len().max(1))?;
                            Some((n.clone(), J::String(val.clone())))
                        })
                        .collect(),
                ),
                AParams::Named(v) => J::Object(
                    v.iter()
                        .map(|(k, val)| (k.clone(), val.to_json()))
                        .collect(),
                ),
                AParams::Other(v) => v.to_json(),
            },
        );
    }
    if let Some((k, v)) = &p.extra {
        m.insert(k.clone(), v.to_json());
    }
    J::Object(m)
}

/// A valid plan: known columns (no repeats), a small limit or none, valid parameter values.
fn valid_plan(rng: &mut fastrand::Rng, src: &http::SourceInfo) -> J {
    let mut m = Map::new();
    if rng.bool() && !src.columns.is_empty() {
        let mut c = src.columns.clone();
        rng.shuffle(&mut c);
        c.truncate(rng.usize(1..=c.len()));
        m.insert("columns".into(), json!(c));
    }
    if rng.u8(..3) == 0 {
        m.insert("limit".into(), json!(rng.usize(0..50)));
    }
    if rng.bool() {
        m.insert("max_endpoints".into(), json!(rng.usize(1..20)));
    }
    let mut params = Map::new();
    for (name, values) in &src.params {
        if rng.bool() && !values.is_empty() {
            params.insert(
                name.clone(),
                J::String(values[rng.usize(..values.len())].clone()),
            );
        }
    }
    if !params.is_empty() {
        m.insert("params".into(), J::Object(params));
    }
    J::Object(m)
}

pub fn request(server: &Server, rng: &mut fastrand::Rng) -> Req {
    let src = &server.sources[rng.usize(..server.sources.len())];
    let mut req = Req::get(format!("/api/v1/sources/{}/plan", src.name));
    req.method = Method::POST;
    req.source = Some(src.name.clone());
    let mode = rng.u8(..10);
    req.body = match mode {
        0 => (0..rng.usize(0..200)).map(|_| rng.u8(..)).collect(),
        1 | 2 => {
            let base = serde_json::to_vec(&valid_plan(rng, src)).expect("json");
            crate::mutate::mutate(rng, &base, &[])
        }
        3 | 4 if !src.broken => {
            req.valid = true;
            serde_json::to_vec(&valid_plan(rng, src)).expect("json")
        }
        // Bigger than the server takes (64 KiB).
        5 if rng.u8(..8) == 0 => vec![b' '; 70_000],
        _ => {
            let bytes: Vec<u8> = (0..rng.usize(1..256)).map(|_| rng.u8(..)).collect();
            let plan = APlan::arbitrary(&mut Unstructured::new(&bytes));
            match plan {
                Ok(p) => serde_json::to_vec(&plan_json(&p, src)).expect("json"),
                Err(_) => b"{}".to_vec(),
            }
        }
    };
    if !req.valid {
        req.path = format!("/api/v1/sources/{}/plan", http::segment(rng, &src.name));
        if rng.u8(..4) == 0 {
            let ct = [
                "application/json",
                "text/plain",
                "application/x-www-form-urlencoded",
                "application/json; charset=latin1",
                "",
            ][rng.usize(..5)];
            req.headers.push(("content-type".into(), ct.into()));
        }
        if rng.u8(..8) == 0 {
            req.query = Some(http::uri_safe(&crate::http::value(rng, &[])));
        }
        if rng.u8(..8) == 0 {
            req.headers.push((
                "host".into(),
                ["", "x:1", "[::1]:80", "a b"][rng.usize(..4)].into(),
            ));
        }
    }
    if axum::http::Uri::try_from(req.uri()).is_err() {
        req.path = format!("/api/v1/sources/{}/plan", src.name);
        req.query = None;
    }
    req
}

/// Redeems every ticket of a valid plan: each one succeeds, and the rows add up.
fn redeem_all(server: &Server, req: &Req, plan: &J) -> Result<Verdict, String> {
    let endpoints = plan["endpoints"]
        .as_array()
        .ok_or("a plan without endpoints")?;
    let body: J = serde_json::from_slice(&req.body).unwrap_or_default();
    let limit = body.get("limit").and_then(J::as_u64);
    let mut rows = 0u64;
    for e in endpoints {
        let ticket = e["ticket"].as_str().ok_or("an endpoint without a ticket")?;
        let mut r = Req::get(format!("/api/v1/tickets/{ticket}"));
        r.source = req.source.clone();
        r.valid = true;
        let answer = server.send(&r)?;
        let (_, seen) = http::check_answer(server, &r, &answer)
            .map_err(|e| format!("redeeming a ticket of a valid plan: {e}"))?;
        if let Some((n, columns)) = seen {
            rows += n as u64;
            if let Some(want) = body.get("columns").and_then(J::as_array) {
                let want: Vec<&str> = want.iter().filter_map(J::as_str).collect();
                if want != columns {
                    return Err(format!(
                        "planned columns {want:?}, the ticket read {columns:?}"
                    ));
                }
            }
        }
    }
    if let Some(l) = limit {
        if rows > l {
            return Err(format!("planned limit {l}, the tickets read {rows} rows"));
        }
    } else if let Some(total) = plan["total_records"].as_u64() {
        // Parquet row counts are exact; other formats estimate.
        let exact = ["example.trips", "example.trips_monthly", "fuzz.month_pad"];
        if exact.contains(&req.source.as_deref().unwrap_or("")) && rows != total {
            return Err(format!(
                "the plan promised {total} rows, the tickets read {rows}"
            ));
        }
    }
    Ok(Verdict::Pass)
}

pub fn target() -> Target<Req> {
    let server = std::sync::Arc::new(Server::start());
    let shared = server.clone();
    Target {
        name: "plan",
        generate: Box::new(move |rng| request(&shared, rng)),
        check: Box::new(move |req| {
            let answer = server.send(req)?;
            let (verdict, _) = http::check_answer(&server, req, &answer)?;
            if req.valid && verdict == Verdict::Pass {
                let plan: J = serde_json::from_slice(answer.body.as_ref().map_err(|e| e.clone())?)
                    .map_err(|e| format!("a plan that is not JSON: {e}"))?;
                return redeem_all(&server, req, &plan);
            }
            Ok(verdict)
        }),
        shrink: Box::new(http::shrink),
        show: http::show,
    }
}
