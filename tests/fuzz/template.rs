//! Target 2: templates rendered with caller values: `Templater` directly (templates of the
//! corpus, mutated, with arbitrary variables), and entries of real catalogs rendered with
//! arbitrary user parameters through `Library::render` and `view::describe`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use inlet::catalog::params::FieldError;
use inlet::catalog::template::Templater;
use inlet::catalog::tree::CatalogError;
use inlet::catalog::{view, CatalogNode, EnvPolicy, Found, Library};
use serde_json::{json, Value as J};

use crate::engine::{Target, Verdict};
use crate::mutate;

/// Caller values that have broken things before, or might.
pub const INTERESTING: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "a\u{0}b",
    "0",
    "1",
    "-1",
    "2",
    "3",
    "4",
    "99999999999999999999",
    "-9223372036854775808",
    "1e308",
    "-1e308",
    "1.5",
    "NaN",
    "inf",
    "true",
    "yes",
    "null",
    "None",
    "[]",
    "[1, 2]",
    "[[[[[[[[[[1]]]]]]]]]]",
    "{\"a\": 1}",
    "a,b",
    ",",
    "2024-01-01",
    "2024-02-30",
    "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00+99:00",
    "+275760-09-13",
    "eu",
    "us",
    "EU",
    "{{ x }}",
    "{% raw %}",
    "}}",
    "%s",
    "%d",
    "%0999d",
    "'",
    "\"",
    "\\",
    "../../../../etc/passwd",
    "/etc/passwd",
    "..",
    ".",
    "*",
    "**/*",
    "[a-z]",
    "?",
    "#",
    "%",
    "%00",
    "%2e%2e%2f",
    "s3://bucket/key",
    "file:///etc/passwd",
    "http://127.0.0.1:9/x",
    "\u{202e}evil",
    "\u{feff}",
    "é",
    "\u{10ffff}",
    "\n",
    "\r\n",
    "\t",
];

/// A caller's value: what `arbitrary` makes of random bytes.
#[derive(Debug, Clone, Arbitrary)]
pub enum AValue {
    Interesting(u8),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    List(Vec<AValue>),
    Map(Vec<(String, AValue)>),
    Long(u16, char),
}

impl AValue {
    pub fn to_json(&self) -> J {
        match self {
            AValue::Interesting(i) => {
                J::String(INTERESTING[*i as usize % INTERESTING.len()].into())
            }
            AValue::Str(s) => J::String(s.clone()),
            AValue::Int(i) => J::from(*i),
            AValue::Float(f) => J::from(*f),
            AValue::Bool(b) => J::Bool(*b),
            AValue::Null => J::Null,
            AValue::List(v) => J::Array(v.iter().take(32).map(AValue::to_json).collect()),
            AValue::Map(m) => J::Object(
                m.iter()
                    .take(32)
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            AValue::Long(n, c) => J::String(std::iter::repeat_n(*c, *n as usize * 4).collect()),
        }
    }
}

/// An arbitrary value from `n` random bytes of `rng`.
pub fn arbitrary_json(rng: &mut fastrand::Rng, n: usize) -> J {
    let bytes: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
    AValue::arbitrary(&mut Unstructured::new(&bytes))
        .map(|v| v.to_json())
        .unwrap_or(J::Null)
}

/// A caller's value: mostly text (HTTP and the CLI send text), sometimes typed JSON.
pub fn caller_value(rng: &mut fastrand::Rng) -> J {
    match rng.u8(..6) {
        0 | 1 => J::String(INTERESTING[rng.usize(..INTERESTING.len())].into()),
        2 => J::String(rng.i64(-5..100).to_string()),
        3 => J::String((0..rng.usize(0..12)).map(|_| rng.char(..)).collect()),
        _ => {
            let n = rng.usize(1..64);
            arbitrary_json(rng, n)
        }
    }
}

/// Templates as the corpus writes them (values of lines holding `{{` or `{%`), and more.
fn template_seeds() -> Vec<String> {
    let mut out: Vec<String> = vec![
        "{{ x }}".into(),
        "{{ CATALOG_DIR }}/data/{{ name }}.csv".into(),
        "{{ '%02d' % month }}".into(),
        "{{ '%s-%s' % (a, b) }}".into(),
        "{{ '%5.2f' % x }}".into(),
        "{{ '%x' % x }}{{ '%o' % x }}{{ '%e' % x }}{{ '%+d' % x }}{{ '%-4s|' % x }}".into(),
        "{{ env(HOME) }}".into(),
        "{{ env('INLET_FUZZ_UNSET', 'dflt') }}".into(),
        "{{ client_env(HOME) }}".into(),
        "{% for i in x %}{{ i }},{% endfor %}".into(),
        "{% for i in range(x|int) %}{{ i }}{% endfor %}".into(),
        "{{ x|join('/') }}".into(),
        "{{ x|upper }}{{ x|lower }}{{ x|replace('a', 'b') }}".into(),
        "{{ x|default('d') }}".into(),
        "{{ x|tojson }}".into(),
        "{{ x ~ y }}".into(),
        "{{ x * 3 }}".into(),
        "{{ x[0] }}{{ x.a }}".into(),
        "{{ x if x else 'none' }}".into(),
        "{% set y = x %}{{ y }}".into(),
        "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(x) }}".into(),
        "s3://{{ bucket }}/{{ prefix }}/*.parquet".into(),
    ];
    let Ok(dir) = std::fs::read_dir(crate::catalog::corpus_dir()) else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        for line in text
            .lines()
            .filter(|l| l.contains("{{") || l.contains("{%"))
        {
            let value = line.split_once(": ").map_or(line, |(_, v)| v).trim();
            let value = value.trim_start_matches("- ");
            let value = value.trim_matches(|c| c == '\'' || c == '"');
            out.push(value.to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Identifiers in a template, to give them values.
fn names(template: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    for c in template.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' {
            cur.push(c);
        } else if !cur.is_empty() {
            if !cur.chars().next().is_some_and(|c| c.is_ascii_digit()) && !out.contains(&cur) {
                out.push(cur.clone());
            }
            cur.clear();
        }
    }
    out
}

#[derive(Debug, Clone)]
pub enum Case {
    /// `Templater::inspect` and `render_str` of a template with variables.
    Direct {
        template: String,
        vars: Vec<(String, J)>,
    },
    /// An entry (by dotted name) of the loaded catalogs rendered and described with values.
    Entry {
        name: String,
        supplied: Vec<(String, J)>,
    },
}

/// A catalog with every parameter type and the template forms the corpus uses.
pub const TYPED_CATALOG: &str = "\
metadata:
  parameters:
    wide: {type: str, default: w, description: catalog-wide}
sources:
  typed:
    driver: csv
    parameters:
      n: {type: int, default: 1, min: 0, max: 9}
      f: {type: float, default: 0.5, min: -1.5, max: 1e6}
      b: {type: bool, default: true}
      d: {type: datetime, default: '2020-01-01'}
      l: {type: list, default: [a]}
      m: {type: mlist, default: [x], allowed: [x, y]}
      s: {type: str, default: eu, allowed: [eu, us]}
      free: {type: str, default: stations}
    args:
      urlpath: \"{{ CATALOG_DIR }}/data/{{ free }}-{{ '%03d' % n }}-{{ '%.2f' % f }}.csv\"
      csv_kwargs:
        sep: '{{ s }}'
        names: '{{ l }}'
        usecols: '{{ m }}'
        flag: '{{ b }}'
        when: '{{ d }}'
        wide: '{{ wide }}'
        joined: \"{{ l|join('/') }}\"
        looped: '{% for x in m %}{{ x }};{% endfor %}'
  implicit:
    driver: parquet
    args:
      urlpath: '{{ CATALOG_DIR }}/{{ region }}/{{ year }}.parquet'
  pinned:
    driver: yaml_file_cat
    args:
      path: '{{ CATALOG_DIR }}/inner.yaml'
      parameters:
        region: eu
";

pub const INNER_CATALOG: &str = "\
sources:
  by_region:
    driver: csv
    parameters:
      region: {type: str, default: us}
      k: {type: int, default: 2}
    args:
      urlpath: \"{{ CATALOG_DIR }}/{{ region }}-{{ '%02d' % k }}.csv\"
";

/// Loads the corpus, the example catalogs and [`TYPED_CATALOG`]; returns the library and the
/// dotted names of its sources (nested ones included), those with parameters first.
pub fn library(dir: &Path) -> (Library, Vec<String>) {
    std::fs::write(dir.join("typed.yaml"), TYPED_CATALOG).expect("write");
    std::fs::create_dir_all(dir.join("nested")).expect("mkdir");
    std::fs::write(dir.join("inner.yaml"), INNER_CATALOG).expect("write");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogs");
    let (lib, _) = Library::open(
        &[crate::catalog::corpus_dir(), repo, dir.join("typed.yaml")],
        EnvPolicy::allow(["HOME"]),
        Arc::new(inlet::service::builtin_drivers()),
    );
    let mut with_params = vec![];
    let mut without = vec![];
    let mut stack: Vec<Arc<CatalogNode>> = lib.roots().to_vec();
    let mut seen = 0;
    while let Some(node) = stack.pop() {
        seen += 1;
        if seen > 400 {
            break;
        }
        for (idx, entry) in node.file.entries.iter().enumerate() {
            let name = format!("{}.{}", node.name, entry.name);
            if entry.is_catalog() {
                if let Ok(child) = lib.child(&node, idx) {
                    stack.push(child);
                }
            } else if node.entry_params(entry).is_empty() {
                without.push(name);
            } else {
                with_params.push(name);
            }
        }
    }
    with_params.sort();
    without.sort();
    assert!(
        with_params.len() > 20,
        "few entries with parameters: {with_params:?}"
    );
    with_params.extend(without.into_iter().take(40));
    (lib, with_params)
}

fn check_field_errors(errors: &[FieldError]) -> Result<(), String> {
    if errors.is_empty() {
        return Err("invalid parameters without a field error".into());
    }
    for e in errors {
        if e.name.is_empty() && e.message.is_empty() {
            return Err(format!("an empty field error: {e:?}"));
        }
    }
    Ok(())
}

fn check_case(lib: &Library, templater: &Templater, case: &Case) -> Result<Verdict, String> {
    match case {
        Case::Direct { template, vars } => {
            let vars: BTreeMap<String, J> = vars.iter().cloned().collect();
            let _ = templater.inspect(template);
            let env = EnvPolicy::allow(["HOME"]);
            let _ = templater.render_str(template, &vars, &env);
            // Inside args, as the loader hands them over.
            let args = json!({"urlpath": template, "list": [template, {"k": template}]});
            let _ = templater.render(&args, &vars, &env);
        }
        Case::Entry { name, supplied } => {
            let supplied: BTreeMap<String, J> = supplied.iter().cloned().collect();
            let Ok(Found::Source(node, idx)) = lib.find(name) else {
                return Err(format!("the entry `{name}` is gone"));
            };
            let entry = &node.file.entries[idx];
            match lib.render(&node, entry, &supplied) {
                Ok((args, values)) => {
                    // Every value used was declared (or implicit) for the entry.
                    let specs = node.entry_params(entry);
                    if let Some(k) = values.keys().find(|k| !specs.iter().any(|s| &s.name == *k)) {
                        return Err(format!("render used an undeclared value `{k}`"));
                    }
                    if !(args.is_object() || args.is_null()) {
                        return Err(format!("args rendered to {args}"));
                    }
                }
                Err(CatalogError::Params(errors)) => check_field_errors(&errors)?,
                Err(CatalogError::Render(m)) if !m.is_empty() => {}
                Err(e) => return Err(format!("render failed unexpectedly: {e:?}")),
            }
            match view::describe(lib, &node, entry, &supplied) {
                Ok(d) => {
                    serde_json::to_string(&d).map_err(|e| format!("describe: {e}"))?;
                }
                Err(CatalogError::Params(errors)) => check_field_errors(&errors)?,
                Err(e) => return Err(format!("describe failed unexpectedly: {e:?}")),
            }
        }
    }
    Ok(Verdict::Pass)
}

fn show(case: &Case) -> String {
    match case {
        Case::Direct { template, vars } => format!("template {template:?} vars {vars:?}"),
        Case::Entry { name, supplied } => {
            let q: Vec<String> = supplied.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("entry {name:?} params {}", q.join(" "))
        }
    }
}

fn shrink(case: &Case) -> Vec<Case> {
    let mut out = vec![];
    let shrink_vars = |vars: &Vec<(String, J)>| -> Vec<Vec<(String, J)>> {
        let mut v = vec![];
        for i in 0..vars.len() {
            let mut w = vars.clone();
            w.remove(i);
            v.push(w);
        }
        for i in 0..vars.len() {
            if let J::String(s) = &vars[i].1 {
                for smaller in mutate::shrink_string(s).into_iter().take(64) {
                    let mut w = vars.clone();
                    w[i].1 = J::String(smaller);
                    v.push(w);
                }
            } else {
                let mut w = vars.clone();
                w[i].1 = J::String(vars[i].1.to_string());
                v.push(w);
            }
        }
        v
    };
    match case {
        Case::Direct { template, vars } => {
            for vars in shrink_vars(vars) {
                out.push(Case::Direct {
                    template: template.clone(),
                    vars,
                });
            }
            for t in mutate::shrink_string(template) {
                out.push(Case::Direct {
                    template: t,
                    vars: vars.clone(),
                });
            }
        }
        Case::Entry { name, supplied } => {
            for supplied in shrink_vars(supplied) {
                out.push(Case::Entry {
                    name: name.clone(),
                    supplied,
                });
            }
        }
    }
    out
}

/// A parameter: its name, its default and other values it takes (allowed, min, max).
type Spec = (String, Option<J>, Vec<J>);

pub fn target() -> Target<Case> {
    let dir = tempfile::tempdir().expect("tmp");
    let (lib, entries) = library(dir.path());
    let templates = template_seeds();
    let all: Vec<Vec<u8>> = templates.iter().map(|t| t.as_bytes().to_vec()).collect();
    let specs: Vec<Vec<Spec>> = entries
        .iter()
        .map(|name| match lib.find(name) {
            Ok(Found::Source(node, idx)) => node
                .entry_params(&node.file.entries[idx])
                .into_iter()
                .map(|s| {
                    let mut values: Vec<J> = s.allowed.clone().unwrap_or_default();
                    values.extend(s.min.clone());
                    values.extend(s.max.clone());
                    (s.name, s.default, values)
                })
                .collect(),
            _ => vec![],
        })
        .collect();
    let templater = Templater::default();
    Target {
        name: "template",
        generate: Box::new(move |rng| {
            if rng.bool() {
                let seed = &all[rng.usize(..all.len())];
                let bytes = if rng.u8(..4) == 0 {
                    seed.clone()
                } else {
                    mutate::mutate(rng, seed, &all)
                };
                let template: String = String::from_utf8_lossy(&bytes).chars().take(8192).collect();
                let mut vars: Vec<(String, J)> = vec![];
                for n in names(&template) {
                    if rng.u8(..8) > 0 {
                        vars.push((n, caller_value(rng)));
                    }
                }
                if rng.u8(..4) == 0 {
                    vars.push(("CATALOG_DIR".into(), caller_value(rng)));
                }
                Case::Direct { template, vars }
            } else {
                let i = rng.usize(..entries.len());
                let mut supplied = vec![];
                for (name, default, values) in &specs[i] {
                    let v = match rng.u8(..6) {
                        0 => continue,
                        1 => default.clone().unwrap_or(J::Null),
                        2 if !values.is_empty() => values[rng.usize(..values.len())].clone(),
                        // As text, the way HTTP and the CLI pass it.
                        3 => J::String(match default {
                            Some(J::String(s)) => s.clone(),
                            Some(d) => d.to_string(),
                            None => String::new(),
                        }),
                        _ => caller_value(rng),
                    };
                    supplied.push((name.clone(), v));
                }
                if rng.u8(..8) == 0 {
                    supplied.push((
                        ["", "CATALOG_DIR", "env", "x", "region", "\u{0}"][rng.usize(..6)].into(),
                        caller_value(rng),
                    ));
                }
                Case::Entry {
                    name: entries[i].clone(),
                    supplied,
                }
            }
        }),
        check: Box::new(move |case| {
            let _keep = &dir;
            check_case(&lib, &templater, case)
        }),
        shrink: Box::new(shrink),
        show,
    }
}
