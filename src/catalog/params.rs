//! User parameters: declarations read from a catalog, and values supplied by callers.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value as J;

use super::diag::{suggest, Diagnostics};
use super::template::{default_env_var, refuse_shell, EnvPolicy};
use super::yaml::{Node, Pos};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    Str,
    Int,
    Float,
    Bool,
    Datetime,
    List,
    Mlist,
}

const TYPE_NAMES: &[&str] = &["str", "int", "float", "bool", "datetime", "list", "mlist"];
const SPEC_KEYS: &[&str] = &["description", "type", "default", "min", "max", "allowed"];

impl ParamType {
    fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "str" | "unicode" => ParamType::Str,
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "bool" => ParamType::Bool,
            "datetime" => ParamType::Datetime,
            "list" | "tuple" => ParamType::List,
            "mlist" => ParamType::Mlist,
            _ => return None,
        })
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// One declared (or implicit) user parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ptype: ParamType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The default, already coerced to the type; `env(NAME)` defaults are kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<J>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<J>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<J>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<J>>,
    /// Used in a template but never declared: a required `str` the caller must pass.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub implicit: bool,
    #[serde(skip)]
    pub pos: Pos,
}

impl ParamSpec {
    pub fn implicit(name: &str, pos: Pos) -> Self {
        ParamSpec {
            name: name.to_string(),
            ptype: ParamType::Str,
            description: None,
            default: None,
            min: None,
            max: None,
            allowed: None,
            implicit: true,
            pos,
        }
    }

    pub fn required(&self) -> bool {
        self.default.is_none()
    }

    /// Checks a value against this declaration and returns it coerced to the declared type.
    pub fn check(&self, value: &J) -> Result<J, String> {
        let v = coerce(self.ptype, value)?;
        if let Some(allowed) = &self.allowed {
            let ok = match (&self.ptype, &v) {
                (ParamType::Mlist, J::Array(items)) => items.iter().all(|i| allowed.contains(i)),
                _ => allowed.contains(&v),
            };
            if !ok {
                return Err(format!(
                    "{} is not allowed; choose from {}",
                    show(&v),
                    show_list(allowed)
                ));
            }
        }
        if let Some(min) = &self.min {
            if compare(&v, min) == Some(std::cmp::Ordering::Less) {
                return Err(format!("{} is below the minimum {}", show(&v), show(min)));
            }
        }
        if let Some(max) = &self.max {
            if compare(&v, max) == Some(std::cmp::Ordering::Greater) {
                return Err(format!("{} is above the maximum {}", show(&v), show(max)));
            }
        }
        Ok(v)
    }
}

fn show(v: &J) -> String {
    v.to_string()
}

fn show_list(vs: &[J]) -> String {
    let items: Vec<String> = vs.iter().map(show).collect();
    format!("[{}]", items.join(", "))
}

fn compare(a: &J, b: &J) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (J::String(x), J::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Coerces a value to a parameter type, as Intake does (`allowed: [2016]` on a `str` is "2016").
/// Strings are accepted for every type, since CLI and HTTP values arrive as text.
pub fn coerce(ptype: ParamType, v: &J) -> Result<J, String> {
    let fail = || format!("{} is not a valid {ptype}", show(v));
    match ptype {
        ParamType::Str => match v {
            J::String(_) => Ok(v.clone()),
            J::Number(n) => Ok(J::String(n.to_string())),
            // Python's str(True) is "True": keep Intake's spelling.
            J::Bool(b) => Ok(J::String(if *b { "True" } else { "False" }.to_string())),
            _ => Err(fail()),
        },
        ParamType::Int => match v {
            J::Number(n) if n.is_i64() || n.is_u64() => Ok(v.clone()),
            J::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(J::from(f as i64)),
                _ => Err(fail()),
            },
            J::String(s) => s.trim().parse::<i64>().map(J::from).map_err(|_| fail()),
            _ => Err(fail()),
        },
        ParamType::Float => match v {
            J::Number(n) => n.as_f64().map(J::from).ok_or_else(fail),
            J::String(s) => s.trim().parse::<f64>().map(J::from).map_err(|_| fail()),
            _ => Err(fail()),
        },
        ParamType::Bool => match v {
            J::Bool(_) => Ok(v.clone()),
            J::Number(n) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
                Ok(J::Bool(n.as_i64() == Some(1)))
            }
            J::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Ok(J::Bool(true)),
                "false" | "0" | "no" | "off" => Ok(J::Bool(false)),
                _ => Err(fail()),
            },
            _ => Err(fail()),
        },
        ParamType::Datetime => match v {
            J::String(s) => parse_datetime(s).map(J::String).ok_or_else(fail),
            _ => Err(fail()),
        },
        ParamType::List | ParamType::Mlist => match v {
            J::Array(_) => Ok(v.clone()),
            J::String(s) if s.trim_start().starts_with('[') => serde_json::from_str::<J>(s)
                .ok()
                .filter(J::is_array)
                .ok_or_else(fail),
            J::String(s) => Ok(J::Array(
                s.split(',')
                    .map(|p| J::String(p.trim().to_string()))
                    .collect(),
            )),
            _ => Err(fail()),
        },
    }
}

/// Date orders `pandas.Timestamp` reads (Intake coerces `datetime` parameters with it), month
/// first where the order is ambiguous as pandas does.
const DATE_FORMATS: &[&str] = &[
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%m/%d/%Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%d %b %Y",
    "%d-%b-%Y",
    "%Y-%b-%d",
    "%B %d %Y",
    "%B %d, %Y",
    "%d %B %Y",
];
/// What may follow the date: nothing, or a time after `T` or a space.
const TIME_FORMATS: &[&str] = &[
    "",
    "T%H:%M",
    " %H:%M",
    "T%H:%M:%S",
    " %H:%M:%S",
    "T%H:%M:%S%.f",
    " %H:%M:%S%.f",
];

/// Dates and datetimes in the forms `pandas.Timestamp` accepts (see [`DATE_FORMATS`]; also
/// `20000101`, a `Z`, `UTC` or `±HH[:MM]` offset, fractional seconds), normalised to ISO 8601:
/// `YYYY-MM-DDTHH:MM:SS[.fff][±HH:MM]`.
fn parse_datetime(s: &str) -> Option<String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.format("%Y-%m-%dT%H:%M:%S%.f%:z").to_string());
    }
    let (local, offset) = split_offset(s)?;
    // `20000101`: pandas reads eight digits as a date.
    let compact;
    let local = if local.len() == 8 && local.bytes().all(|b| b.is_ascii_digit()) {
        compact = format!("{}-{}-{}", &local[..4], &local[4..6], &local[6..]);
        compact.as_str()
    } else {
        local
    };
    let naive = DATE_FORMATS.iter().find_map(|date| {
        TIME_FORMATS.iter().find_map(|time| {
            if time.is_empty() {
                NaiveDate::parse_from_str(local, date)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            } else {
                NaiveDateTime::parse_from_str(local, &format!("{date}{time}")).ok()
            }
        })
    })?;
    Some(match offset {
        Some(offset) => naive
            .and_local_timezone(offset)
            .single()?
            .format("%Y-%m-%dT%H:%M:%S%.f%:z")
            .to_string(),
        None => naive.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
    })
}

/// Splits a trailing UTC offset (`Z`, `UTC`, `+05:30`, `-0800`, `+01`) off a datetime. `None`
/// when the offset is malformed (out of range).
fn split_offset(s: &str) -> Option<(&str, Option<chrono::FixedOffset>)> {
    let utc = chrono::FixedOffset::east_opt(0);
    for suffix in ["Z", "z", "UTC"] {
        if let Some(rest) = s.strip_suffix(suffix) {
            if rest.contains(':') {
                return Some((rest.trim_end(), utc));
            }
        }
    }
    // A sign after the time (which holds a colon) starts an offset; signs in the date do not.
    let Some(colon) = s.find(':') else {
        return Some((s, None));
    };
    let Some(sign_at) = s[colon..].rfind(['+', '-']).map(|i| i + colon) else {
        return Some((s, None));
    };
    let digits: String = s[sign_at + 1..].chars().filter(|c| *c != ':').collect();
    if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = match &digits[2..] {
        "" => 0,
        m => m.parse().ok()?,
    };
    let seconds = (hours * 60 + minutes) * 60;
    let seconds = if s.as_bytes()[sign_at] == b'-' {
        -seconds
    } else {
        seconds
    };
    Some((
        s[..sign_at].trim_end(),
        Some(chrono::FixedOffset::east_opt(seconds)?),
    ))
}

/// Reads a `parameters:` mapping. Bad declarations are load errors at their position.
pub fn parse_specs(node: &Node, diags: &mut Diagnostics) -> Vec<ParamSpec> {
    let Some(map) = node.as_map() else {
        if !node.is_null() {
            diags.error(
                node.pos,
                format!(
                    "`parameters` must be a mapping of name to declaration, not {}",
                    node.kind()
                ),
            );
        }
        return vec![];
    };
    let mut specs: Vec<ParamSpec> = map
        .iter()
        .filter_map(|(key, decl)| parse_spec(&key.text, key.pos, decl, diags))
        .collect();
    specs.shrink_to_fit();
    specs
}

fn parse_spec(name: &str, pos: Pos, decl: &Node, diags: &mut Diagnostics) -> Option<ParamSpec> {
    let Some(fields) = decl.as_map() else {
        diags.error(
            decl.pos,
            format!(
                "parameter `{name}` must be a mapping (type, description, default, ...), not {}",
                decl.kind()
            ),
        );
        return None;
    };
    for (k, _) in fields {
        if !SPEC_KEYS.contains(&k.text.as_str()) {
            let hint = suggest(&k.text, SPEC_KEYS)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| format!("; known keys: {}", SPEC_KEYS.join(", ")));
            diags.warn(
                k.pos,
                format!(
                    "parameter `{name}`: unknown key `{}` is ignored{hint}",
                    k.text
                ),
            );
        }
    }
    let ptype = match decl.get("type") {
        None => {
            diags.warn(
                pos,
                format!("parameter `{name}` has no `type`; treating it as `str`"),
            );
            ParamType::Str
        }
        Some(t) => match t.as_str().and_then(ParamType::parse) {
            Some(p) => p,
            None => {
                let written = t
                    .as_str()
                    .map_or_else(|| t.to_json().to_string(), str::to_string);
                let hint = suggest(&written, TYPE_NAMES)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                diags.error(
                    t.pos,
                    format!(
                        "parameter `{name}` has invalid type `{written}`{hint}; valid types: {}",
                        TYPE_NAMES.join(", ")
                    ),
                );
                return None;
            }
        },
    };
    let description = decl.get("description").map(|d| match d.as_str() {
        Some(s) => s.to_string(),
        None => d.to_json().to_string(),
    });
    let mut ok = true;
    let coerce_at = |key: &str, n: &Node, diags: &mut Diagnostics, ok: &mut bool| -> Option<J> {
        match coerce(ptype, &n.to_json()) {
            Ok(v) => Some(v),
            Err(e) => {
                diags.error(n.pos, format!("parameter `{name}`: `{key}` {e}"));
                *ok = false;
                None
            }
        }
    };
    let default = match decl.get("default") {
        None => None,
        Some(d) if d.is_null() => None,
        Some(d) => match d.as_str() {
            Some(s) if refuse_shell(s).is_err() => {
                diags.error(
                    d.pos,
                    format!(
                        "parameter `{name}`: default `{s}`: {}",
                        refuse_shell(s).err().unwrap_or_default()
                    ),
                );
                ok = false;
                None
            }
            Some(s) if default_env_var(s).is_some() => Some(J::String(s.to_string())),
            _ => coerce_at("default", d, diags, &mut ok),
        },
    };
    let min = decl
        .get("min")
        .and_then(|n| coerce_at("min", n, diags, &mut ok));
    let max = decl
        .get("max")
        .and_then(|n| coerce_at("max", n, diags, &mut ok));
    let allowed = match decl.get("allowed") {
        None => None,
        Some(a) => match &a.value {
            super::yaml::Value::Seq(items) => {
                let elem_type = match ptype {
                    // For an mlist each allowed value is one element; for a list each is a whole list.
                    ParamType::Mlist => None,
                    p => Some(p),
                };
                let vals = items
                    .iter()
                    .map(|i| match elem_type {
                        Some(p) => coerce(p, &i.to_json()).map_err(|e| (i.pos, e)),
                        None => Ok(i.to_json()),
                    })
                    .collect::<Result<Vec<J>, _>>();
                match vals {
                    Ok(v) => Some(v),
                    Err((p, e)) => {
                        diags.error(p, format!("parameter `{name}`: `allowed` value {e}"));
                        ok = false;
                        None
                    }
                }
            }
            _ => {
                diags.error(
                    a.pos,
                    format!("parameter `{name}`: `allowed` must be a list"),
                );
                ok = false;
                None
            }
        },
    };
    let spec = ParamSpec {
        name: name.to_string(),
        ptype,
        description,
        default,
        min,
        max,
        allowed,
        implicit: false,
        pos,
    };
    if ok {
        if let Some(d) = spec
            .default
            .as_ref()
            .filter(|d| d.as_str().is_none_or(|s| default_env_var(s).is_none()))
        {
            // Intake does not check defaults against `allowed`/`min`/`max`, and real catalogs
            // rely on that (`default: []` with `allowed` lists): warn instead of failing.
            if let Err(e) = spec.check(d) {
                diags.warn(decl.get("default").map_or(pos, |n| n.pos), format!("parameter `{name}`: default {e}; callers relying on the default will get it unchecked"));
            }
        }
    }
    ok.then_some(spec)
}

/// A caller's value that was refused, for per-field error lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub name: String,
    pub message: String,
}

/// Resolves the values templates see: caller values checked against the declarations, defaults
/// (including allowed `env()` defaults) for the rest. Every problem is reported, not only the first.
pub fn resolve(
    specs: &[ParamSpec],
    supplied: &BTreeMap<String, J>,
    env: &EnvPolicy,
) -> Result<BTreeMap<String, J>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for name in supplied.keys() {
        if !specs.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            let hint = match suggest(name, &known) {
                Some(s) => format!("; did you mean `{s}`?"),
                None if known.is_empty() => "; this source takes no parameters".to_string(),
                None => format!("; declared parameters: {}", known.join(", ")),
            };
            errors.push(FieldError {
                name: name.clone(),
                message: format!("unknown parameter `{name}`{hint}"),
            });
        }
    }
    for spec in specs {
        let field = |message: String| FieldError {
            name: spec.name.clone(),
            message,
        };
        let result =
            match (supplied.get(&spec.name), &spec.default) {
                (Some(v), _) => spec.check(v),
                (None, Some(J::String(s))) if default_env_var(s).is_some() => {
                    let var = default_env_var(s).unwrap_or_default();
                    match env.get(var) {
                        Err(e) => Err(format!("default {s}: {e}")),
                        Ok(None) => Err(format!(
                            "default {s}: the variable is not set; pass a value"
                        )),
                        Ok(Some(val)) => spec.check(&J::String(val)),
                    }
                }
                (None, Some(d)) => Ok(d.clone()),
                (None, None) => {
                    Err(format!(
                "parameter `{}` is required{}: pass it with `--param {}=...` or `param.{}=...`",
                spec.name,
                if spec.implicit { " (used by the template but not declared)" } else { "" },
                spec.name,
                spec.name
            ))
                }
            };
        match result {
            Ok(v) => {
                out.insert(spec.name.clone(), v);
            }
            Err(e) => errors.push(field(e)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::yaml;
    use serde_json::json;
    use std::path::Path;

    fn specs(text: &str) -> (Vec<ParamSpec>, Vec<super::super::diag::Diagnostic>) {
        let (node, problems) = yaml::parse(text);
        assert!(problems.is_empty());
        let mut d = Diagnostics::new(Path::new("t.yaml"));
        let s = parse_specs(&node.expect("doc"), &mut d);
        (s, d.into_vec())
    }

    fn one(text: &str) -> ParamSpec {
        let (s, d) = specs(text);
        assert!(
            d.iter()
                .all(|d| d.severity != super::super::diag::Severity::Error),
            "{d:?}"
        );
        s.into_iter().next().expect("one spec")
    }

    #[test]
    fn invalid_type_is_a_load_error_with_position() {
        let (s, d) = specs("b:\n  description: B\n  type: string\n");
        assert!(s.is_empty());
        assert_eq!((d[0].line, d[0].col), (3, 9));
        assert!(
            d[0].message
                .contains("invalid type `string` (did you mean `str`?)"),
            "{}",
            d[0].message
        );
    }

    #[test]
    fn allowed_and_default_are_coerced_to_the_type() {
        let p = one("year:\n  type: str\n  default: 2016\n  allowed: [2016, 2017]\n");
        assert_eq!(p.default, Some(json!("2016")));
        assert_eq!(p.allowed, Some(vec![json!("2016"), json!("2017")]));
        assert_eq!(p.check(&json!(2017)), Ok(json!("2017")));
        assert!(p.check(&json!("2018")).is_err());
    }

    #[test]
    fn uncoercible_default_is_a_load_error() {
        let (s, d) = specs("n:\n  type: int\n  default: abc\n");
        assert!(s.is_empty());
        assert_eq!((d[0].line, d[0].col), (3, 12));
    }

    #[test]
    fn min_max_are_inclusive_and_zero_is_a_bound() {
        let p = one("n:\n  type: int\n  min: 0\n  max: 10\n  default: 0\n");
        assert_eq!(p.check(&json!(0)), Ok(json!(0)));
        assert_eq!(p.check(&json!("10")), Ok(json!(10)));
        assert!(p
            .check(&json!(-1))
            .expect_err("below")
            .contains("below the minimum 0"));
        assert!(p
            .check(&json!(11))
            .expect_err("above")
            .contains("above the maximum 10"));
        let (s, d) = specs("n:\n  type: int\n  min: 0\n  default: -5\n");
        assert_eq!(
            s.len(),
            1,
            "a default outside the bounds still loads, as in Intake"
        );
        assert!(d[0].message.contains("below the minimum 0"));
    }

    #[test]
    fn each_type_coerces() {
        assert_eq!(coerce(ParamType::Float, &json!("1.5")), Ok(json!(1.5)));
        assert_eq!(coerce(ParamType::Bool, &json!("true")), Ok(json!(true)));
        assert_eq!(
            coerce(ParamType::Datetime, &json!("2020-01-02")),
            Ok(json!("2020-01-02T00:00:00"))
        );
        assert_eq!(
            coerce(ParamType::List, &json!("a,b")),
            Ok(json!(["a", "b"]))
        );
        assert_eq!(coerce(ParamType::List, &json!("[1, 2]")), Ok(json!([1, 2])));
        assert!(coerce(ParamType::Int, &json!(true)).is_err());
        assert!(coerce(ParamType::Datetime, &json!("yesterday")).is_err());
    }

    /// What `pandas.Timestamp` (Intake's coercion) reads; a catalog Intake loads must load.
    #[test]
    fn datetimes_in_the_forms_pandas_reads() {
        let cases = [
            ("2000-01-01", "2000-01-01T00:00:00"),
            ("2000.01.01", "2000-01-01T00:00:00"),
            ("2000/01/01", "2000-01-01T00:00:00"),
            ("20000101", "2000-01-01T00:00:00"),
            ("01/02/2000", "2000-01-02T00:00:00"),
            ("Jan 1 2000", "2000-01-01T00:00:00"),
            ("January 1, 2000", "2000-01-01T00:00:00"),
            ("1 January 2000", "2000-01-01T00:00:00"),
            ("1 Jan 2000", "2000-01-01T00:00:00"),
            ("01-Jan-2000", "2000-01-01T00:00:00"),
            ("2000-01-01T12:30", "2000-01-01T12:30:00"),
            ("2000-01-01 12:30:05", "2000-01-01T12:30:05"),
            ("2000-01-01 12:30:05.25", "2000-01-01T12:30:05.250"),
            ("2000-01-01T12:30:05.123456", "2000-01-01T12:30:05.123456"),
            ("2000-01-01T12:30:05Z", "2000-01-01T12:30:05+00:00"),
            ("2000-01-01 12:30:05 UTC", "2000-01-01T12:30:05+00:00"),
            ("2000-01-01T12:30:05+05:30", "2000-01-01T12:30:05+05:30"),
            ("2000-01-01 12:30:05-0800", "2000-01-01T12:30:05-08:00"),
            ("2000-01-01T12:30+01", "2000-01-01T12:30:00+01:00"),
            (
                " 2000-01-01T00:00:00.5-03:00 ",
                "2000-01-01T00:00:00.500-03:00",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                coerce(ParamType::Datetime, &json!(text)),
                Ok(json!(want)),
                "{text}"
            );
        }
        for bad in [
            "yesterday",
            "2000-13-01",
            "2000-01-01T25:00",
            "2000-01-01T10:00+99:00",
            "",
        ] {
            assert!(coerce(ParamType::Datetime, &json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_allowed_is_whole_values_mlist_is_elements() {
        let l = one("l:\n  type: list\n  allowed: [[a, b], [c]]\n  default: [c]\n");
        assert!(l.check(&json!(["a", "b"])).is_ok());
        assert!(l.check(&json!(["a"])).is_err());
        let m = one("m:\n  type: mlist\n  allowed: [a, b, c]\n  default: [a]\n");
        assert!(m.check(&json!(["a", "c"])).is_ok());
        assert!(m.check(&json!(["a", "z"])).is_err());
    }

    #[test]
    fn resolve_rejects_unknown_and_missing_and_reports_all() {
        let s = vec![
            one("a:\n  type: int\n"),
            one("b:\n  type: str\n  default: x\n"),
        ];
        let supplied: BTreeMap<String, J> = [("bb".to_string(), json!("y"))].into();
        let errs = resolve(&s, &supplied, &EnvPolicy::default()).expect_err("errors");
        assert_eq!(errs.len(), 2);
        assert!(errs[0]
            .message
            .contains("unknown parameter `bb`; did you mean `b`?"));
        assert!(errs[1].message.contains("`a` is required"));
        let ok: BTreeMap<String, J> = [("a".to_string(), json!("3"))].into();
        let vals = resolve(&s, &ok, &EnvPolicy::default()).expect("ok");
        assert_eq!(
            vals,
            [("a".to_string(), json!(3)), ("b".to_string(), json!("x"))].into()
        );
    }

    #[test]
    fn shell_default_is_refused_env_default_needs_allowlist() {
        let (s, d) = specs("p:\n  type: str\n  default: shell(rm -rf /)\n");
        assert!(s.is_empty() && d[0].message.contains("refused"));
        std::env::set_var("INLET_PARAM_TEST", "v");
        let p = vec![one("p:\n  type: str\n  default: env(INLET_PARAM_TEST)\n")];
        let err = resolve(&p, &BTreeMap::new(), &EnvPolicy::default()).expect_err("not allowed");
        assert!(err[0].message.contains("--allow-env INLET_PARAM_TEST"));
        let ok = resolve(
            &p,
            &BTreeMap::new(),
            &EnvPolicy::allow(["INLET_PARAM_TEST"]),
        );
        assert_eq!(ok.expect("ok").get("p"), Some(&json!("v")));
    }
}
