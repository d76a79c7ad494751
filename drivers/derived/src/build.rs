//! Turns a pipeline's steps into an [`Exec`] over its opened targets, checking every column
//! and type against the targets' discovered schemas (no data is read).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use inlet_driver::{DriverError, Limits, Result, Source};

use crate::exec::{Exec, MapOp, Rows};
use crate::merge::Merge;
use crate::ops;
use crate::spec::{How, Step, Value};

/// The pipeline being built: the data so far, and whether pandas would hold a Series (one
/// column picked by a single name) rather than a DataFrame.
struct State {
    exec: Arc<Exec>,
    series: bool,
}

fn names(s: &Schema) -> String {
    s.fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn schema_of(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

fn field(s: &Schema, i: usize) -> Field {
    s.field(i).clone()
}

pub struct Builder<'a> {
    pub sources: &'a HashMap<String, Arc<dyn Source>>,
    pub limits: &'a Limits,
}

impl Builder<'_> {
    /// A target, as read whole.
    pub async fn target(&self, name: &str) -> Result<Arc<Exec>> {
        let source = self
            .sources
            .get(name)
            .ok_or_else(|| DriverError::bad_arg("targets", format!("`{name}` was not opened")))?
            .clone();
        let discovery = source.discover().await?;
        Ok(Arc::new(Exec::Target {
            name: name.to_string(),
            schema: discovery.schema.clone(),
            source,
            discovery,
            columns: None,
        }))
    }

    pub async fn build(&self, first: &str, steps: &[Step]) -> Result<Arc<Exec>> {
        let mut st = State {
            exec: self.target(first).await?,
            series: false,
        };
        for (i, step) in steps.iter().enumerate() {
            st = self.step(i + 1, step, st).await?;
        }
        Ok(st.exec)
    }

    async fn step(&self, n: usize, step: &Step, st: State) -> Result<State> {
        let schema = st.exec.schema().clone();
        let method = match step {
            Step::Cols { .. } => "cols",
            Step::Case { upper: false } => "str.lower",
            Step::Case { upper: true } => "str.upper",
            Step::Assign(_) => "assign",
            Step::Concat { .. } => "concat",
            Step::Merge { .. } => "merge",
            Step::Join { .. } => "join",
        };
        let fail =
            |msg: String| DriverError::bad_arg("steps", format!("step {n} `{method}`: {msg}"));
        let column = |c: &str| {
            schema
                .index_of(c)
                .map_err(|_| fail(format!("no column `{c}`; columns: {}", names(&schema))))
        };
        let table_only = |st: &State| {
            if st.series {
                Err(fail("applies to a table, and the data is a single column here (`cols` with one name)".into()))
            } else {
                Ok(())
            }
        };
        match step {
            Step::Cols { columns, single } => {
                table_only(&st)?;
                let idx = columns
                    .iter()
                    .map(|c| column(c))
                    .collect::<Result<Vec<_>>>()?;
                let out = schema_of(idx.iter().map(|i| field(&schema, *i)).collect());
                let unique =
                    idx.len() == idx.iter().collect::<std::collections::HashSet<_>>().len();
                let exec = match &*st.exec {
                    // Straight after a target: the target reads only these columns.
                    Exec::Target {
                        name,
                        source,
                        discovery,
                        columns: None,
                        ..
                    } if unique => Exec::Target {
                        name: name.clone(),
                        source: source.clone(),
                        discovery: discovery.clone(),
                        columns: Some(columns.clone()),
                        schema: out,
                    },
                    _ => Exec::Map {
                        input: st.exec.clone(),
                        op: MapOp::Select(idx),
                        schema: out,
                    },
                };
                Ok(State {
                    exec: Arc::new(exec),
                    series: *single,
                })
            }
            Step::Case { upper } => {
                if !st.series || schema.fields().len() != 1 {
                    return Err(fail("applies to a single column: pick one first with `cols` and one column name (not a list)".into()));
                }
                let f = schema.field(0);
                if !ops::is_string(f.data_type()) {
                    return Err(fail(format!(
                        "column `{}` holds {}, not strings",
                        f.name(),
                        f.data_type()
                    )));
                }
                let out = schema_of(vec![f.clone().with_data_type(DataType::Utf8)]);
                let op = MapOp::Case {
                    index: 0,
                    upper: *upper,
                };
                Ok(State {
                    exec: Arc::new(Exec::Map {
                        input: st.exec,
                        op,
                        schema: out,
                    }),
                    series: true,
                })
            }
            Step::Assign(values) => {
                table_only(&st)?;
                let mut exec = st.exec;
                for (name, value) in values {
                    let cur = exec.schema().clone();
                    let at = cur.index_of(name).ok();
                    let mut fields: Vec<Field> =
                        cur.fields().iter().map(|f| f.as_ref().clone()).collect();
                    exec = match value {
                        Value::Constant(v) => {
                            let t = ops::constant_type(v)
                                .ok_or_else(|| fail(format!("`{name}`: not a single value")))?;
                            let f = Field::new(name, t, v.is_null());
                            let index = at.unwrap_or(fields.len());
                            match at {
                                Some(i) => fields[i] = f,
                                None => fields.push(f),
                            }
                            let op = MapOp::Constant {
                                index,
                                value: v.clone(),
                            };
                            Arc::new(Exec::Map {
                                input: exec,
                                op,
                                schema: schema_of(fields),
                            })
                        }
                        Value::Target(t) => {
                            let other = self.target(t).await?;
                            let os = other.schema().clone();
                            if os.fields().len() != 1 {
                                return Err(fail(format!(
                                    "`{name}: {t}` assigns a whole target, and `{t}` has {} columns ({}): assign a target with one column",
                                    os.fields().len(),
                                    names(&os)
                                )));
                            }
                            let width = fields.len();
                            let f = field(&os, 0).with_name(name).with_nullable(true);
                            let mut layout: Vec<usize> = (0..width).collect();
                            match at {
                                Some(i) => {
                                    fields[i] = f;
                                    layout[i] = width;
                                }
                                None => {
                                    fields.push(f);
                                    layout.push(width);
                                }
                            }
                            Arc::new(Exec::Zip {
                                inputs: vec![exec, other],
                                rows: Rows::Of(0),
                                layout,
                                schema: schema_of(fields),
                            })
                        }
                    };
                }
                Ok(State {
                    exec,
                    series: false,
                })
            }
            Step::Concat {
                dfs,
                columns: false,
                inner,
            } => {
                let mut inputs = vec![];
                for d in dfs {
                    inputs.push(self.target(d).await?);
                }
                let mut fields: Vec<Field> = vec![];
                for input in &inputs {
                    for f in input.schema().fields() {
                        match fields.iter_mut().find(|x| x.name() == f.name()) {
                            Some(x) => {
                                let t =
                                    ops::unify(x.data_type(), f.data_type()).ok_or_else(|| {
                                        fail(format!(
                                            "column `{}` is {} in one target and {} in another",
                                            f.name(),
                                            x.data_type(),
                                            f.data_type()
                                        ))
                                    })?;
                                *x = x
                                    .clone()
                                    .with_data_type(t)
                                    .with_nullable(x.is_nullable() || f.is_nullable());
                            }
                            None => fields.push(f.as_ref().clone()),
                        }
                    }
                }
                let every = |name: &str| inputs.iter().all(|i| i.schema().index_of(name).is_ok());
                if *inner {
                    fields.retain(|f| every(f.name()));
                } else {
                    fields = fields
                        .into_iter()
                        .map(|f| {
                            let all = every(f.name());
                            f.clone().with_nullable(f.is_nullable() || !all)
                        })
                        .collect();
                }
                Ok(State {
                    exec: Arc::new(Exec::Concat {
                        inputs,
                        schema: schema_of(fields),
                    }),
                    series: false,
                })
            }
            Step::Concat {
                dfs,
                columns: true,
                inner,
            } => {
                let mut inputs = vec![];
                let mut fields = vec![];
                for d in dfs {
                    let e = self.target(d).await?;
                    fields.extend(
                        e.schema()
                            .fields()
                            .iter()
                            .map(|f| f.as_ref().clone().with_nullable(!inner || f.is_nullable())),
                    );
                    inputs.push(e);
                }
                let layout = (0..fields.len()).collect();
                let rows = if *inner {
                    Rows::Shortest
                } else {
                    Rows::Longest
                };
                Ok(State {
                    exec: Arc::new(Exec::Zip {
                        inputs,
                        rows,
                        layout,
                        schema: schema_of(fields),
                    }),
                    series: false,
                })
            }
            Step::Join {
                other,
                how,
                lsuffix,
                rsuffix,
            } => {
                table_only(&st)?;
                let right = self.target(other).await?;
                let rs = right.schema().clone();
                let overlap: Vec<&str> = schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .filter(|n| rs.index_of(n).is_ok())
                    .collect();
                if !overlap.is_empty() && lsuffix.is_empty() && rsuffix.is_empty() {
                    return Err(fail(format!(
                        "columns overlap but no suffix specified: {}; set `lsuffix` or `rsuffix`",
                        overlap.join(", ")
                    )));
                }
                let rename = |f: &Field, sfx: &str, pad: bool| {
                    let name = if overlap.contains(&f.name().as_str()) {
                        format!("{}{sfx}", f.name())
                    } else {
                        f.name().clone()
                    };
                    f.clone()
                        .with_name(name)
                        .with_nullable(f.is_nullable() || pad)
                };
                let (pad_left, pad_right) = match how {
                    How::Left => (false, true),
                    How::Right => (true, false),
                    How::Inner => (false, false),
                    How::Outer => (true, true),
                };
                let mut fields: Vec<Field> = schema
                    .fields()
                    .iter()
                    .map(|f| rename(f, lsuffix, pad_left))
                    .collect();
                fields.extend(rs.fields().iter().map(|f| rename(f, rsuffix, pad_right)));
                let rows = match how {
                    How::Left => Rows::Of(0),
                    How::Right => Rows::Of(1),
                    How::Inner => Rows::Shortest,
                    How::Outer => Rows::Longest,
                };
                let layout = (0..fields.len()).collect();
                Ok(State {
                    exec: Arc::new(Exec::Zip {
                        inputs: vec![st.exec, right],
                        rows,
                        layout,
                        schema: schema_of(fields),
                    }),
                    series: false,
                })
            }
            Step::Merge {
                right,
                on,
                left,
                suffixes,
            } => {
                table_only(&st)?;
                let r = self.target(right).await?;
                let rs = r.schema().clone();
                let on: Vec<String> = match on {
                    Some(on) => on.clone(),
                    None => schema
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .filter(|n| rs.index_of(n).is_ok())
                        .collect(),
                };
                if on.is_empty() {
                    return Err(fail(format!(
                        "no common columns to merge on: set `on` ({} | {})",
                        names(&schema),
                        names(&rs)
                    )));
                }
                let mut lk = vec![];
                let mut rk = vec![];
                let mut kt = vec![];
                for k in &on {
                    let l = column(k)?;
                    let ri = rs.index_of(k).map_err(|_| {
                        fail(format!(
                            "`{right}` has no column `{k}`; columns: {}",
                            names(&rs)
                        ))
                    })?;
                    let (a, b) = (schema.field(l).data_type(), rs.field(ri).data_type());
                    let t = match ops::unify(a, b) {
                        Some(t) if t != DataType::Null => t,
                        _ => {
                            return Err(fail(format!(
                                "you are trying to merge on {a} and {b} columns for key `{k}`"
                            )))
                        }
                    };
                    lk.push(l);
                    rk.push(ri);
                    kt.push(t);
                }
                let right_columns: Vec<usize> =
                    (0..rs.fields().len()).filter(|i| !rk.contains(i)).collect();
                let clash = |n: &str, other: &Schema| {
                    !on.iter().any(|k| k == n) && other.index_of(n).is_ok()
                };
                let mut fields: Vec<Field> = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        if clash(f.name(), &rs) {
                            f.as_ref()
                                .clone()
                                .with_name(format!("{}{}", f.name(), suffixes.0))
                        } else {
                            f.as_ref().clone()
                        }
                    })
                    .collect();
                for i in &right_columns {
                    let f = rs.field(*i);
                    let name = if clash(f.name(), &schema) {
                        format!("{}{}", f.name(), suffixes.1)
                    } else {
                        f.name().clone()
                    };
                    fields.push(
                        f.clone()
                            .with_name(name)
                            .with_nullable(f.is_nullable() || *left),
                    );
                }
                let m = Merge {
                    left: st.exec,
                    right: r,
                    right_name: right.clone(),
                    left_keys: lk,
                    right_keys: rk,
                    keep_left: *left,
                    right_columns,
                    key_types: kt,
                    schema: schema_of(fields),
                    limits: self.limits.clone(),
                };
                Ok(State {
                    exec: Arc::new(Exec::Merge(m)),
                    series: false,
                })
            }
        }
    }
}
