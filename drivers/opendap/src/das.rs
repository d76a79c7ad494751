//! The DAS (`.das`): attributes per variable, as JSON values the CF decoding reads.
//!
//! ```text
//! Attributes {
//!     air {
//!         Float32 _FillValue -9999;
//!         String units "degC";
//!     }
//!     NC_GLOBAL { String title "..."; }
//! }
//! ```
//! Nested containers (a Grid's array, HDF5 groups) are kept under dotted names (`air.air`).

use std::collections::BTreeMap;

use serde_json::{Map, Value as J};

use crate::dds::{show, tokens, Cursor, Tok};

/// Attributes by container name (`air`, `air.air`, `NC_GLOBAL`).
pub type Das = BTreeMap<String, Map<String, J>>;

pub fn parse(text: &str) -> Result<Das, String> {
    let mut c = Cursor::new(tokens(text)?);
    match c.word()? {
        w if w.eq_ignore_ascii_case("attributes") => {}
        other => return Err(format!("expected `Attributes`, found `{other}`")),
    }
    c.expect('{')?;
    let mut out = Das::new();
    while !c.is_punct('}') {
        if c.peek().is_none() {
            return Err("the attributes are not closed".into());
        }
        let name = c.word()?;
        container(&mut c, &name, &mut out)?;
    }
    Ok(out)
}

/// The body of container `path` (after its name), up to and including its `}`.
fn container(c: &mut Cursor, path: &str, out: &mut Das) -> Result<(), String> {
    c.expect('{')?;
    let mut attrs = Map::new();
    while !c.is_punct('}') {
        let first = match c.next() {
            Some(Tok::Word(w)) => w,
            other => {
                return Err(format!(
                    "in `{path}`: expected an attribute, found {}",
                    show(other.as_ref())
                ))
            }
        };
        if c.is_punct('{') {
            container(c, &format!("{path}.{first}"), out)?;
            continue;
        }
        let name = c.word()?;
        if first.eq_ignore_ascii_case("alias") {
            // `Alias name target;`: a reference, not a value.
            while !c.is_punct(';') && c.peek().is_some() {
                c.next();
            }
            c.expect(';')?;
            continue;
        }
        let mut values = vec![];
        loop {
            let v = match c.next() {
                Some(Tok::Str(s)) => J::String(s),
                Some(Tok::Word(w)) => value(&first, &w),
                other => {
                    return Err(format!(
                        "in `{path}.{name}`: expected a value, found {}",
                        show(other.as_ref())
                    ))
                }
            };
            values.push(v);
            if c.is_punct(',') {
                c.next();
                continue;
            }
            c.expect(';')?;
            break;
        }
        let v = if values.len() == 1 {
            values.remove(0)
        } else {
            J::Array(values)
        };
        attrs.insert(name, v);
    }
    c.expect('}')?;
    out.entry(path.to_string()).or_default().extend(attrs);
    Ok(())
}

/// An unquoted value of DAP type `ty`: integers as integers (some servers print them as
/// `2.02406e+07`), floats as numbers, NaN and infinities as the strings the CF decoding reads.
fn value(ty: &str, w: &str) -> J {
    let ty = ty.to_ascii_lowercase();
    if ty == "string" || ty == "url" {
        return J::String(w.to_string());
    }
    let lower = w.to_ascii_lowercase();
    let special = match lower.trim_start_matches(['+', '-']) {
        "nan" | "nanf" => Some("NaN"),
        "inf" | "infinity" | "inff" => Some(if lower.starts_with('-') {
            "-Infinity"
        } else {
            "Infinity"
        }),
        _ => None,
    };
    if let Some(s) = special {
        return J::from(s);
    }
    let integer = matches!(
        ty.as_str(),
        "byte" | "int16" | "uint16" | "int32" | "uint32" | "int8" | "uint8" | "int64" | "uint64"
    );
    if integer {
        if let Ok(i) = w.parse::<i64>() {
            return J::from(i);
        }
        if let Some(x) = w.parse::<f64>().ok().filter(|x| x.fract() == 0.0) {
            return J::from(x as i64);
        }
    }
    match w.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        Some(n) => J::Number(n),
        None => J::String(w.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_types_and_specials_parse() {
        let das = parse(
            r#"Attributes {
    NC_GLOBAL {
        String title "a \"quoted\" title";
        Int32 seed 2.02406e+07;
    }
    air {
        Float32 _FillValue -9999;
        Float64 valid_range 0.5, 1.5;
        String units "degC";
        air { Byte _Unsigned_thing 3; }
    }
    obs { Float64 _FillValue nan; Float32 big -Inf; Alias a b; }
    DODS_EXTRA { String Unlimited_Dimension "time"; }
}"#,
        )
        .expect("parses");
        assert_eq!(das["NC_GLOBAL"]["title"], json!("a \"quoted\" title"));
        assert_eq!(das["NC_GLOBAL"]["seed"], json!(20240600));
        assert_eq!(das["air"]["_FillValue"], json!(-9999.0));
        assert_eq!(das["air"]["valid_range"], json!([0.5, 1.5]));
        assert_eq!(das["air.air"]["_Unsigned_thing"], json!(3));
        assert_eq!(das["obs"]["_FillValue"], json!("NaN"));
        assert_eq!(das["obs"]["big"], json!("-Infinity"));
        assert!(!das["obs"].contains_key("a"));
        assert_eq!(das["DODS_EXTRA"]["Unlimited_Dimension"], json!("time"));
    }

    #[test]
    fn malformed_das_is_an_error() {
        assert!(parse("Attributes { x { Int32 a 1 } }").is_err());
        assert!(parse("Error { code = 3; };").is_err());
    }
}
