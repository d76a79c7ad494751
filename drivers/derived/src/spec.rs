//! What a derived entry's args say, checked without opening anything: which targets it reads
//! and which steps it runs. Everything Inlet refuses statically (Python, `loc`/`iloc`, a name
//! not among `targets`) is refused here, with the step number Intake would give.

use inlet_driver::DriverError;
use serde_json::{Map, Value as J};

/// A parsed derived entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Spec {
    /// The target itself (`alias`, `AliasSource`).
    Alias {
        target: String,
        params: Map<String, J>,
    },
    /// Steps over `targets` (`Columns` is one `cols` step; `DataFramePipeline` any).
    Pipeline {
        targets: Vec<String>,
        /// Parameter values per target (`target_kwargs`).
        params: Map<String, J>,
        steps: Vec<Step>,
    },
}

/// One data operation Inlet does on Arrow.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `cols`: columns by name; `single` when given one name (pandas then has a Series).
    Cols { columns: Vec<String>, single: bool },
    /// `str.lower` / `str.upper` of a single column.
    Case { upper: bool },
    /// `assign`: new (or replaced) columns, in order.
    Assign(Vec<(String, Value)>),
    /// `concat` of named targets, by rows or side by side (`axis: columns`).
    Concat {
        dfs: Vec<String>,
        columns: bool,
        inner: bool,
    },
    /// `merge` with another target: a hash join on `on` (None: the common columns).
    Merge {
        right: String,
        on: Option<Vec<String>>,
        left: bool,
        suffixes: (String, String),
    },
    /// `join` with another target by position (pandas' default index).
    Join {
        other: String,
        how: How,
        lsuffix: String,
        rsuffix: String,
    },
}

/// What `assign` puts in a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// The single column of another target.
    Target(String),
    /// The same value on every row.
    Constant(J),
}

/// Which rows a positional join keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Left,
    Right,
    Inner,
    Outer,
}

/// Why an entry cannot be read, classified: the corpus coverage counts entries Intake itself
/// refuses (`IntakeRefuses`) as handled, and entries needing Python as missing.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A step or transform that runs Python code.
    Python(String),
    /// Intake refuses it too (`loc`/`iloc`, a name not among `targets`, a bad step).
    IntakeRefuses(String),
    /// Intake would run it, Inlet does not (an operation, a kwarg, a cross-catalog target).
    Unsupported(String),
}

impl From<Refusal> for DriverError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Python(m) | Refusal::Unsupported(m) => DriverError::Unsupported(m),
            Refusal::IntakeRefuses(m) => DriverError::bad_arg("steps", m),
        }
    }
}

/// The Intake class paths and Inlet names of each kind of derived source.
pub const ALIAS: &[&str] = &["alias", "intake.source.derived.AliasSource"];
pub const COLUMNS: &[&str] = &["columns", "intake.source.derived.Columns"];
pub const PIPELINE: &[&str] = &[
    "dataframe_pipeline",
    "intake.source.derived.DataFramePipeline",
];
pub const TRANSFORM: &[&str] = &[
    "python_transform",
    "intake.source.derived.GenericTransform",
    "intake.source.derived.DataFrameTransform",
];

fn bad(arg: &str, msg: impl Into<String>) -> Refusal {
    Refusal::IntakeRefuses(format!("`{arg}`: {}", msg.into()))
}

fn text(v: &J) -> Option<String> {
    match v {
        J::String(s) => Some(s.clone()),
        J::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string or a list of strings.
fn names(v: &J, arg: &str) -> Result<(Vec<String>, bool), Refusal> {
    match v {
        J::String(s) => Ok((vec![s.clone()], true)),
        J::Array(items) => items
            .iter()
            .map(|i| text(i).ok_or_else(|| bad(arg, "must list names")))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| (v, false)),
        _ => Err(bad(arg, "must be a name or a list of names")),
    }
}

fn object(v: Option<&J>, arg: &str) -> Result<Map<String, J>, Refusal> {
    match v {
        None | Some(J::Null) => Ok(Map::new()),
        Some(J::Object(m)) => Ok(m.clone()),
        Some(_) => Err(bad(arg, "must be a mapping")),
    }
}

/// Parses the args of a derived entry whose driver resolved to `driver` (one of this crate's
/// names). Targets are returned as written; the service resolves them.
pub fn parse(driver: &str, args: &Map<String, J>) -> Result<Spec, Refusal> {
    if TRANSFORM.contains(&driver) {
        let f = args.get("transform").and_then(J::as_str).unwrap_or("?");
        return Err(Refusal::Python(format!(
            "the transform calls the Python function `{f}`; Inlet cannot run Python: serve the result as a file instead"
        )));
    }
    if ALIAS.contains(&driver) {
        let written = args
            .get("target")
            .and_then(text)
            .ok_or_else(|| bad("target", "is required: the name of the entry to alias"))?;
        let target = match args.get("mapping") {
            None | Some(J::Null) => written,
            Some(J::Object(m)) => m.get(&written).and_then(text).ok_or_else(|| {
                let keys: Vec<&str> = m.keys().map(String::as_str).collect();
                bad(
                    "mapping",
                    format!("has no key `{written}`; keys: {}", keys.join(", ")),
                )
            })?,
            Some(_) => return Err(bad("mapping", "must map choices to entry names")),
        };
        return Ok(Spec::Alias {
            target,
            params: object(args.get("kwargs"), "kwargs")?,
        });
    }
    let (targets, _) = names(
        args.get("targets")
            .ok_or_else(|| bad("targets", "is required: the entries to read"))?,
        "targets",
    )?;
    if targets.is_empty() {
        return Err(bad("targets", "names no entry"));
    }
    match args.get("target_chooser").and_then(J::as_str) {
        None | Some("intake.source.derived.first") => {}
        Some(f) => {
            return Err(Refusal::Python(format!(
                "`target_chooser` calls the Python function `{f}`; Inlet cannot run Python: serve the result as a file instead"
            )))
        }
    }
    let params = object(args.get("target_kwargs"), "target_kwargs")?;
    let steps = if COLUMNS.contains(&driver) {
        let (columns, single) = names(
            args.get("columns")
                .ok_or_else(|| bad("columns", "is required"))?,
            "columns",
        )?;
        vec![Step::Cols { columns, single }]
    } else {
        let steps = match args.get("steps") {
            Some(J::Array(s)) => s,
            _ => return Err(bad("steps", "is required: a list of {method, kwargs}")),
        };
        parse_steps(steps, &targets)?
    };
    Ok(Spec::Pipeline {
        targets,
        params,
        steps,
    })
}

fn python(n: usize, method: &str, f: &str) -> Refusal {
    Refusal::Python(format!(
        "step {n} `{method}` calls the Python function `{f}`; Inlet cannot run Python: serve the result as a file instead"
    ))
}

/// Steps in order; a step calling Python is reported first, wherever it is, since nothing
/// else about the pipeline can change that.
fn parse_steps(steps: &[J], targets: &[String]) -> Result<Vec<Step>, Refusal> {
    for (i, step) in steps.iter().enumerate() {
        let method = step.get("method").and_then(J::as_str).unwrap_or_default();
        let func = step
            .get("kwargs")
            .and_then(|k| k.get("func"))
            .and_then(J::as_str);
        match (method, func) {
            ("apply" | "transform" | "pipe" | "agg" | "aggregate" | "map", Some(f)) => {
                return Err(python(i + 1, method, f))
            }
            (m, _) if m.contains('.') && !is_accessor(m) => return Err(python(i + 1, m, m)),
            _ => {}
        }
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| parse_step(i + 1, s, targets))
        .collect()
}

fn is_accessor(method: &str) -> bool {
    matches!(method.split_once('.'), Some(("str" | "dt" | "cat" | "sparse", f)) if !f.contains('.'))
}

fn parse_step(n: usize, step: &J, targets: &[String]) -> Result<Step, Refusal> {
    let method = step
        .get("method")
        .and_then(J::as_str)
        .ok_or_else(|| bad("steps", format!("step {n} has no `method`")))?;
    let kwargs = object(step.get("kwargs"), &format!("step {n} kwargs"))?;
    let fail = |msg: String| Refusal::IntakeRefuses(format!("step {n} `{method}`: {msg}"));
    let unsupported = |msg: String| Refusal::Unsupported(format!("step {n} `{method}`: {msg}"));
    let target = |v: &J, what: &str| -> Result<String, Refusal> {
        let name = text(v).ok_or_else(|| fail(format!("`{what}` must name a target")))?;
        if targets.contains(&name) {
            Ok(name)
        } else {
            Err(fail(format!(
                "`{name}` is not listed in the targets of this pipeline ({}): add it to `targets`",
                targets.join(", ")
            )))
        }
    };
    let only = |allowed: &[&str]| -> Result<(), Refusal> {
        match kwargs.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(unsupported(format!(
                "Inlet does not do its kwarg `{k}` (it does: {})",
                allowed.join(", ")
            ))),
            None => Ok(()),
        }
    };
    let suffix = |k: &str, default: &str| kwargs.get(k).and_then(text).unwrap_or(default.into());
    Ok(match method {
        "loc" | "iloc" => {
            return Err(fail(
                "loc and iloc are not supported (Intake refuses them too): select columns with `cols`"
                    .into(),
            ))
        }
        "cols" => {
            only(&["columns"])?;
            let v = kwargs.get("columns").ok_or_else(|| fail("needs `columns`".into()))?;
            let (columns, single) = names(v, "columns")?;
            Step::Cols { columns, single }
        }
        "str.lower" | "str.upper" => {
            only(&[])?;
            Step::Case { upper: method == "str.upper" }
        }
        "assign" => Step::Assign(
            kwargs
                .iter()
                .map(|(col, v)| {
                    let value = match v {
                        J::String(s) if targets.contains(s) => Value::Target(s.clone()),
                        J::String(_) | J::Number(_) | J::Bool(_) | J::Null => {
                            Value::Constant(v.clone())
                        }
                        _ => return Err(unsupported(format!("`{col}`: only a target or a single value can be assigned"))),
                    };
                    Ok((col.clone(), value))
                })
                .collect::<Result<_, _>>()?,
        ),
        "concat" => {
            only(&["dfs", "axis", "join", "ignore_index"])?;
            let v = kwargs.get("dfs").ok_or_else(|| fail("needs `dfs`, the targets to concatenate".into()))?;
            let (dfs, _) = names(v, "dfs")?;
            let dfs = dfs.iter().map(|d| target(&J::String(d.clone()), "dfs")).collect::<Result<_, _>>()?;
            let columns = match kwargs.get("axis") {
                None => false,
                Some(a) => match text(a).as_deref() {
                    Some("0" | "index" | "rows") => false,
                    Some("1" | "columns") => true,
                    _ => return Err(fail("`axis` must be 0/index or 1/columns".into())),
                },
            };
            let inner = match kwargs.get("join").and_then(J::as_str) {
                None | Some("outer") => false,
                Some("inner") => true,
                Some(j) => return Err(fail(format!("`join: {j}` must be outer or inner"))),
            };
            Step::Concat { dfs, columns, inner }
        }
        "merge" => {
            only(&["right", "on", "how", "suffixes"])?;
            let right = target(kwargs.get("right").unwrap_or(&J::Null), "right")?;
            let on = kwargs.get("on").map(|v| names(v, "on").map(|x| x.0)).transpose()?;
            let left = match kwargs.get("how").and_then(J::as_str) {
                None | Some("inner") => false,
                Some("left") => true,
                Some(h) => return Err(unsupported(format!("`how: {h}`: Inlet merges inner or left"))),
            };
            let suffixes = match kwargs.get("suffixes") {
                None => ("_x".into(), "_y".into()),
                Some(J::Array(s)) if s.len() == 2 => (
                    s[0].as_str().unwrap_or_default().to_string(),
                    s[1].as_str().unwrap_or_default().to_string(),
                ),
                Some(_) => return Err(fail("`suffixes` must be two strings".into())),
            };
            Step::Merge { right, on, left, suffixes }
        }
        "join" => {
            only(&["other", "how", "lsuffix", "rsuffix"])?;
            let v = kwargs.get("other").ok_or_else(|| fail("needs `other`".into()))?;
            let (others, _) = names(v, "other")?;
            let others: Vec<String> = others.iter().map(|o| target(&J::String(o.clone()), "other")).collect::<Result<_, _>>()?;
            let [other] = others.as_slice() else {
                return Err(unsupported("Inlet joins one `other` at a time: add a join step per target".into()));
            };
            let how = match kwargs.get("how").and_then(J::as_str) {
                None | Some("left") => How::Left,
                Some("right") => How::Right,
                Some("inner") => How::Inner,
                Some("outer") => How::Outer,
                Some(h) => return Err(fail(format!("`how: {h}` must be left, right, inner or outer"))),
            };
            Step::Join { other: other.clone(), how, lsuffix: suffix("lsuffix", ""), rsuffix: suffix("rsuffix", "") }
        }
        "apply" | "transform" => {
            return Err(unsupported("needs a `func`, a Python function: Inlet cannot run Python".into()))
        }
        other => {
            return Err(unsupported(format!(
                "`{other}` is not an operation Inlet does without Python (it does cols, str.lower, str.upper, assign, concat, merge and join): serve the result as a file instead"
            )))
        }
    })
}
