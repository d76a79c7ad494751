//! One reader schema for the writer schemas of a source's files (Avro schema resolution):
//! fields are matched by name, fields some files lack are filled with their default (or null),
//! numbers widen (int -> long -> float -> double), enums gain symbols; anything else that
//! differs is an `Incompatible` error naming the field and the files.

use inlet_driver::{DriverError, Result};
use serde_json::{json, Map, Value as J};

/// A writer schema whose top level is not a record, wrapped as a record with one field `value`
/// (a one-field record is encoded exactly like its field, so the bytes read the same).
pub(crate) fn as_record(schema: J) -> J {
    if schema.get("type").and_then(J::as_str) == Some("record") {
        return schema;
    }
    json!({"type": "record", "name": "inlet.avro.Value", "fields": [{"name": "value", "type": schema}]})
}

/// The first top-level field of `record` that makes `fails` true for the record cut after it
/// (earlier fields stay: they may define types later ones name).
pub(crate) fn first_failing_field(record: &J, fails: impl Fn(&J) -> bool) -> Option<String> {
    let fields = record.get("fields")?.as_array()?;
    (0..fields.len()).find_map(|i| {
        let mut cut = record.clone();
        cut["fields"] = J::Array(fields[..=i].to_vec());
        fails(&cut).then(|| {
            fields[i]
                .get("name")
                .and_then(J::as_str)
                .unwrap_or("?")
                .to_string()
        })
    })
}

/// Where a schema came from, for messages.
pub(crate) struct Writer<'a> {
    pub schema: &'a J,
    pub at: &'a str,
}

/// The reader schema for all `writers` (records, see [`as_record`]); the first one's field order,
/// then fields only later files have.
pub(crate) fn unify(writers: &[Writer<'_>]) -> Result<J> {
    let Some(first) = writers.first() else {
        return Err(DriverError::NotFound("the source has no files".into()));
    };
    let mut reader = first.schema.clone();
    for w in &writers[1..] {
        let cx = Cx {
            first: first.at,
            other: w.at,
        };
        reader = cx.record(&reader, w.schema, "")?;
    }
    Ok(reader)
}

struct Cx<'a> {
    first: &'a str,
    other: &'a str,
}

fn kind(t: &J) -> Option<&str> {
    match t {
        J::String(s) => Some(s),
        J::Object(o) => o.get("type").and_then(J::as_str),
        _ => None,
    }
}

/// `{"type": "int"}` is `"int"`: primitives without attributes compare as their names.
fn plain(t: &J) -> J {
    match t {
        J::Object(o) if o.len() == 1 && o.get("type").is_some_and(J::is_string) => {
            o["type"].clone()
        }
        other => other.clone(),
    }
}

fn is_null(t: &J) -> bool {
    kind(t) == Some("null")
}

/// The non-null branch of `["null", T]` / `[T, "null"]`.
fn nullable_branch(t: &J) -> Option<&J> {
    match t.as_array()?.as_slice() {
        [a, b] if is_null(a) && !is_null(b) => Some(b),
        [a, b] if is_null(b) && !is_null(a) => Some(a),
        _ => None,
    }
}

/// Rank of a number type for promotion; None for anything else.
fn numeric_rank(t: &J) -> Option<u8> {
    match plain(t).as_str()? {
        "int" => Some(0),
        "long" => Some(1),
        "float" => Some(2),
        "double" => Some(3),
        _ => None,
    }
}

fn describe(t: &J) -> String {
    match t {
        J::String(s) => s.clone(),
        J::Array(a) => format!(
            "union [{}]",
            a.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        J::Object(o) => {
            let k = kind(t).unwrap_or("?");
            match (
                o.get("logicalType").and_then(J::as_str),
                o.get("name").and_then(J::as_str),
            ) {
                (Some(l), _) => format!("{k} ({l})"),
                (None, Some(n)) => format!("{k} {n}"),
                _ => k.to_string(),
            }
        }
        other => other.to_string(),
    }
}

fn refers_to(reference: &J, definition: &J) -> bool {
    reference
        .as_str()
        .is_some_and(|n| definition.get("name").and_then(J::as_str) == Some(n))
}

/// A field some files do not have: its default, or null (made nullable) when it has none.
fn optional(field: &J) -> J {
    let mut f = field.clone();
    let Some(obj) = f.as_object_mut() else {
        return f;
    };
    if obj.contains_key("default") {
        return f;
    }
    let t = obj.get("type").cloned().unwrap_or(J::Null);
    let branch = nullable_branch(&t).cloned();
    let t = match (branch, &t) {
        (Some(b), _) => json!(["null", b]),
        (None, J::Array(items)) if items.iter().any(is_null) => {
            let mut v = vec![J::from("null")];
            v.extend(items.iter().filter(|i| !is_null(i)).cloned());
            J::Array(v)
        }
        (None, J::Array(items)) => {
            let mut v = vec![J::from("null")];
            v.extend(items.iter().cloned());
            J::Array(v)
        }
        (None, other) => json!(["null", other]),
    };
    obj.insert("type".into(), t);
    obj.insert("default".into(), J::Null);
    f
}

impl Cx<'_> {
    fn incompatible(&self, path: &str, a: &J, b: &J) -> DriverError {
        DriverError::Incompatible(format!(
            "field `{path}` is {} in `{}` but {} in `{}`: Avro schema resolution cannot read \
             both as one column; give the files compatible types or read them as separate sources",
            describe(a),
            self.first,
            describe(b),
            self.other
        ))
    }

    fn record(&self, a: &J, b: &J, path: &str) -> Result<J> {
        let fields = |r: &J| {
            r.get("fields")
                .and_then(J::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let name_of = |f: &J| {
            f.get("name")
                .and_then(J::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let (fa, fb) = (fields(a), fields(b));
        let mut out = Vec::with_capacity(fa.len());
        for f in &fa {
            let name = name_of(f);
            let sub = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match fb.iter().find(|g| name_of(g) == name) {
                Some(g) => {
                    let mut merged = f.clone();
                    let mut t = self.unify(&f["type"], &g["type"], &sub)?;
                    // A union's default is for its first branch: a non-null default keeps
                    // the value first when the field became nullable.
                    let keeps_value = f.get("default").is_some_and(|d| !d.is_null());
                    if let Some(u) = t.as_array_mut().filter(|u| keeps_value && u.len() == 2) {
                        if is_null(&u[0]) {
                            u.swap(0, 1);
                        }
                    }
                    if let Some(o) = merged.as_object_mut() {
                        o.insert("type".into(), t);
                    }
                    out.push(merged);
                }
                None => out.push(optional(f)),
            }
        }
        for g in &fb {
            if !fa.iter().any(|f| name_of(f) == name_of(g)) {
                out.push(optional(g));
            }
        }
        let mut merged: Map<String, J> = a.as_object().cloned().unwrap_or_default();
        merged.insert("fields".into(), J::Array(out));
        // A record renamed between files still resolves: the other name becomes an alias.
        if let (Some(na), Some(nb)) = (a.get("name"), b.get("name")) {
            if na != nb {
                let mut aliases = merged
                    .get("aliases")
                    .and_then(J::as_array)
                    .cloned()
                    .unwrap_or_default();
                aliases.push(nb.clone());
                merged.insert("aliases".into(), J::Array(aliases));
            }
        }
        Ok(J::Object(merged))
    }

    fn unify(&self, a: &J, b: &J, path: &str) -> Result<J> {
        if plain(a) == plain(b) {
            return Ok(a.clone());
        }
        match (nullable_branch(a), nullable_branch(b)) {
            (Some(x), Some(y)) => return Ok(json!(["null", self.unify(x, y, path)?])),
            (Some(x), None) if !b.is_array() => {
                return Ok(json!(["null", self.unify(x, b, path)?]))
            }
            (None, Some(y)) if !a.is_array() => {
                return Ok(json!(["null", self.unify(a, y, path)?]))
            }
            _ => {}
        }
        if let (Some(x), Some(y)) = (numeric_rank(a), numeric_rank(b)) {
            return Ok(if x >= y { plain(a) } else { plain(b) });
        }
        let same_name = a.get("name").is_some() && a.get("name") == b.get("name");
        match (kind(a), kind(b)) {
            (Some("record"), Some("record")) => self.record(a, b, path),
            (Some("array"), Some("array")) => {
                let mut m = a.clone();
                m["items"] = self.unify(&a["items"], &b["items"], &format!("{path}[]"))?;
                Ok(m)
            }
            (Some("map"), Some("map")) => {
                let mut m = a.clone();
                m["values"] = self.unify(&a["values"], &b["values"], &format!("{path}{{}}"))?;
                Ok(m)
            }
            (Some("enum"), Some("enum")) if same_name => {
                let symbols = |t: &J| {
                    t.get("symbols")
                        .and_then(J::as_array)
                        .cloned()
                        .unwrap_or_default()
                };
                let mut all = symbols(a);
                for s in symbols(b) {
                    if !all.contains(&s) {
                        all.push(s);
                    }
                }
                let mut m = a.clone();
                m["symbols"] = J::Array(all);
                Ok(m)
            }
            // A named type defined in one file and referenced by name in the other.
            _ if refers_to(a, b) || refers_to(b, a) => {
                Ok(if a.is_object() { a.clone() } else { b.clone() })
            }
            _ => Err(self.incompatible(path, a, b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: J) -> J {
        json!({"type": "record", "name": "R", "fields": fields})
    }

    fn unify2(a: &J, b: &J) -> Result<J> {
        unify(&[
            Writer {
                schema: a,
                at: "a.avro",
            },
            Writer {
                schema: b,
                at: "b.avro",
            },
        ])
    }

    #[test]
    fn added_fields_keep_defaults_or_become_nullable() {
        let v1 = rec(json!([{"name": "id", "type": "long"}, {"name": "gone", "type": "string"}]));
        let v2 = rec(json!([{"name": "id", "type": "int"},
            {"name": "score", "type": "double", "default": 1.5}]));
        let r = unify2(&v1, &v2).expect("compatible");
        assert_eq!(
            r["fields"],
            json!([{"name": "id", "type": "long"},
                {"name": "gone", "type": ["null", "string"], "default": null},
                {"name": "score", "type": "double", "default": 1.5}])
        );
    }

    #[test]
    fn changed_types_name_the_field_and_files() {
        let a = rec(json!([{"name": "p", "type": {"type": "record", "name": "P",
            "fields": [{"name": "amount", "type": "long"}]}}]));
        let b = rec(json!([{"name": "p", "type": {"type": "record", "name": "P",
            "fields": [{"name": "amount", "type": ["null", "string"]}]}}]));
        let e = unify2(&a, &b).expect_err("incompatible").to_string();
        assert!(
            e.contains("`p.amount` is long in `a.avro` but string in `b.avro`"),
            "{e}"
        );
        let nullable = rec(json!([{"name": "x", "type": ["null", "int"]}]));
        let plain = rec(json!([{"name": "x", "type": {"type": "long"}}]));
        assert_eq!(
            unify2(&nullable, &plain).expect("ok")["fields"][0]["type"],
            json!(["null", "long"])
        );
        let with_default = rec(json!([{"name": "x", "type": "int", "default": 7}]));
        assert_eq!(
            unify2(&with_default, &nullable).expect("ok")["fields"][0]["type"],
            json!(["int", "null"]),
            "the default's branch first"
        );
    }

    #[test]
    fn non_records_are_wrapped() {
        assert_eq!(as_record(json!("long"))["fields"][0]["type"], json!("long"));
        let r = rec(json!([]));
        assert_eq!(as_record(r.clone()), r);
    }
}
