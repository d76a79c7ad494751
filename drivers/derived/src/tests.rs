//! The drivers over in-memory toy sources (the sample CSVs of Intake's own tests), with
//! expected results written as pandas gives them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::storage::StorageResolver;
use inlet_driver::{
    BatchStream, Discovery, Driver, DriverError, Limits, OpenContext, Partition, ReadRequest,
    Result, Source, Targets,
};
use serde_json::{json, Map, Value as J};

use super::*;

/// A table in memory, one partition per batch; counts reads.
struct Toy {
    batches: Vec<RecordBatch>,
    reads: Mutex<usize>,
}

#[async_trait]
impl Source for Toy {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        let partitions = (0..self.batches.len())
            .map(|i| Partition {
                id: i,
                label: format!("b{i}"),
                file: 0,
                estimated_rows: None,
                estimated_bytes: None,
            })
            .collect();
        Ok(Arc::new(Discovery {
            schema: self.batches[0].schema(),
            partitions,
            total_rows: Some(self.batches.iter().map(|b| b.num_rows() as u64).sum()),
            total_bytes: None,
            files: vec![],
            statistics: vec![],
            metadata: Map::new(),
            warnings: vec![],
        }))
    }
    async fn read(&self, r: ReadRequest) -> Result<BatchStream> {
        *self
            .reads
            .lock()
            .map_err(|_| DriverError::Io("lock".into()))? += 1;
        let d = self.discover().await?;
        let idx = d.projection_indices(&r)?;
        let parts: Vec<usize> = d.select(&r)?.iter().map(|p| p.id).collect();
        let out: Vec<Result<RecordBatch>> = parts
            .into_iter()
            .map(|p| {
                let b = self.batches[p].clone();
                Ok(match &idx {
                    Some(i) => b.project(i).map_err(|e| DriverError::Io(e.to_string()))?,
                    None => b,
                })
            })
            .collect();
        Ok(futures::stream::iter(out).boxed())
    }
}

fn sample(names: &[&str], scores: &[f64], ranks: &[i64]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "name",
            Arc::new(StringArray::from(names.to_vec())) as ArrayRef,
        ),
        (
            "score",
            Arc::new(Float64Array::from(scores.to_vec())) as ArrayRef,
        ),
        (
            "rank",
            Arc::new(Int64Array::from(ranks.to_vec())) as ArrayRef,
        ),
    ])
    .expect("batch")
}

/// Intake's sample1.csv (in two partitions), sample2_1.csv, and a one-column `lower` pipeline.
struct Cat {
    entries: HashMap<String, (String, Map<String, J>)>,
    data: HashMap<String, Arc<Toy>>,
}

#[async_trait]
impl Targets for Cat {
    async fn open(
        &self,
        arg: &str,
        name: &str,
        _params: &Map<String, J>,
    ) -> Result<Arc<dyn Source>> {
        if let Some(t) = self.data.get(name) {
            return Ok(t.clone());
        }
        let (driver, args) = self
            .entries
            .get(name)
            .ok_or_else(|| DriverError::bad_arg(arg, format!("no entry `{name}`")))?;
        open_spec(driver, args, &ctx_with(self.clone_shallow())).await
    }
}

impl Cat {
    fn clone_shallow(&self) -> Arc<Cat> {
        Arc::new(Cat {
            entries: self.entries.clone(),
            data: self.data.clone(),
        })
    }
}

fn catalog() -> Arc<Cat> {
    let df = sample(
        &["Alice", "Bob", "Charlie", "Eve"],
        &[100.5, 50.3, 25.0, 25.0],
        &[1, 2, 3, 3],
    );
    let df1 = sample(
        &["Alice1", "Bob1", "Charlie1", "Eve1"],
        &[100.5, 50.3, 25.0, 25.0],
        &[1, 2, 3, 3],
    );
    let toy = |b: Vec<RecordBatch>| {
        Arc::new(Toy {
            batches: b,
            reads: Mutex::new(0),
        })
    };
    let mut data = HashMap::new();
    data.insert("df".into(), toy(vec![df.slice(0, 2), df.slice(2, 2)]));
    data.insert("df1".into(), toy(vec![df1]));
    let many: Vec<i64> = (0..1000).collect();
    let big = sample(&vec!["x"; 1000], &vec![0.0; 1000], &many);
    data.insert("big".into(), toy(vec![big]));
    data.insert("short".into(), toy(vec![sample(&["Zed"], &[1.0], &[9])]));
    let mut entries = HashMap::new();
    let accessor = json!({"targets": ["df"], "steps": [{"method": "cols", "kwargs": {"columns": "name"}}, {"method": "str.lower"}]});
    entries.insert(
        "accessor".into(),
        ("dataframe_pipeline".into(), obj(accessor)),
    );
    Arc::new(Cat { entries, data })
}

fn obj(v: J) -> Map<String, J> {
    match v {
        J::Object(m) => m,
        _ => Map::new(),
    }
}

fn ctx_with(cat: Arc<Cat>) -> OpenContext {
    OpenContext {
        catalog_dir: std::env::temp_dir(),
        storage: Arc::new(StorageResolver::default()),
        limits: Limits::default(),
        targets: Some(cat),
    }
}

async fn open(driver: &dyn Driver, args: J) -> Result<Arc<dyn Source>> {
    driver.open(&obj(args), &ctx_with(catalog())).await
}

async fn pipeline(targets: J, steps: J) -> Result<RecordBatch> {
    let s = open(&PipelineDriver, json!({"targets": targets, "steps": steps})).await?;
    read_all(
        &s,
        ReadRequest {
            batch_size: 3,
            ..Default::default()
        },
    )
    .await
}

async fn read_all(s: &Arc<dyn Source>, r: ReadRequest) -> Result<RecordBatch> {
    let schema = s.discover().await?.projected_schema(&r)?;
    let batches: Vec<RecordBatch> = s.read(r).await?.try_collect().await?;
    arrow_select::concat::concat_batches(&schema, &batches)
        .map_err(|e| DriverError::Io(e.to_string()))
}

fn names(b: &RecordBatch) -> Vec<String> {
    b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn strings(b: &RecordBatch, i: usize) -> Vec<Option<String>> {
    let c = arrow_cast::cast(b.column(i), &arrow_schema::DataType::Utf8).expect("cast");
    let s = c.as_any().downcast_ref::<StringArray>().expect("strings");
    s.iter().map(|v| v.map(str::to_string)).collect()
}

fn some(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| Some(s.to_string())).collect()
}

#[tokio::test]
async fn an_alias_is_its_target_and_a_mapping_chooses_it() {
    let s = open(&AliasDriver, json!({"target": "df"}))
        .await
        .expect("open");
    assert_eq!(
        s.discover().await.expect("d").partitions.len(),
        2,
        "the target's partitions"
    );
    let s = open(
        &AliasDriver,
        json!({"target": "second", "mapping": {"first": "df", "second": "df1"}}),
    )
    .await
    .expect("open");
    assert_eq!(
        strings(&read_all(&s, Default::default()).await.expect("read"), 0)[0].as_deref(),
        Some("Alice1")
    );
    let e = open(
        &AliasDriver,
        json!({"target": "third", "mapping": {"first": "df"}}),
    )
    .await
    .err();
    assert!(
        matches!(&e, Some(DriverError::BadArg { message, .. }) if message.contains("no key `third`")),
        "{e:?}"
    );
}

#[tokio::test]
async fn columns_and_cols_read_only_the_columns_named_and_keep_partitions() {
    let s = open(
        &ColumnsDriver,
        json!({"targets": ["df"], "columns": ["name", "rank"]}),
    )
    .await
    .expect("open");
    let d = s.discover().await.expect("discover");
    assert_eq!(d.partitions.len(), 2);
    assert_eq!(d.partitions[1].label, "df#b1");
    let b = read_all(
        &s,
        ReadRequest {
            partitions: Some(vec![1]),
            ..Default::default()
        },
    )
    .await
    .expect("read");
    assert_eq!(names(&b), ["name", "rank"]);
    assert_eq!(strings(&b, 0), some(&["Charlie", "Eve"]));
    let b = pipeline(
        json!(["df"]),
        json!([{"method": "cols", "kwargs": {"columns": "name"}}]),
    )
    .await
    .expect("one");
    assert_eq!(strings(&b, 0), some(&["Alice", "Bob", "Charlie", "Eve"]));
}

#[tokio::test]
async fn accessor_lowers_a_single_column_and_refuses_a_table() {
    let steps = json!([{"method": "cols", "kwargs": {"columns": "name"}}, {"method": "str.upper"}]);
    let b = pipeline(json!(["df"]), steps).await.expect("upper");
    assert_eq!(strings(&b, 0), some(&["ALICE", "BOB", "CHARLIE", "EVE"]));
    let steps =
        json!([{"method": "cols", "kwargs": {"columns": ["name"]}}, {"method": "str.lower"}]);
    let e = pipeline(json!(["df"]), steps).await.err();
    assert!(
        matches!(&e, Some(DriverError::BadArg { message, .. }) if message.starts_with("step 2 `str.lower`: applies to a single column")),
        "{e:?}"
    );
    let steps =
        json!([{"method": "cols", "kwargs": {"columns": "score"}}, {"method": "str.lower"}]);
    let e = pipeline(json!(["df"]), steps).await.err();
    assert!(
        matches!(&e, Some(DriverError::BadArg { message, .. }) if message.contains("holds Float64, not strings")),
        "{e:?}"
    );
}

#[tokio::test]
async fn assign_a_constant_and_a_target_column() {
    let b = pipeline(json!(["df", "accessor"]), json!([{"method": "assign", "kwargs": {"lower": "accessor", "new_col": "value", "rank": 7}}])).await.expect("assign");
    assert_eq!(
        names(&b),
        ["name", "score", "rank", "lower", "new_col"],
        "a known name is replaced in place"
    );
    assert_eq!(strings(&b, 3), some(&["alice", "bob", "charlie", "eve"]));
    assert_eq!(strings(&b, 4), some(&["value"; 4]));
    assert_eq!(strings(&b, 2), some(&["7"; 4]));
    let e = pipeline(
        json!(["df", "df1"]),
        json!([{"method": "assign", "kwargs": {"x": "df1"}}]),
    )
    .await
    .err();
    assert!(
        matches!(&e, Some(DriverError::BadArg { message, .. }) if message.contains("has 3 columns")),
        "{e:?}"
    );
}

#[tokio::test]
async fn concat_rows_unifies_columns_as_pandas_and_keeps_partitions() {
    let s = open(&PipelineDriver, json!({"targets": ["df", "df1"], "steps": [{"method": "concat", "kwargs": {"dfs": ["df", "df1"]}}]})).await.expect("open");
    assert_eq!(s.discover().await.expect("d").partitions.len(), 3);
    let b = read_all(&s, Default::default()).await.expect("read");
    assert_eq!((b.num_rows(), b.num_columns()), (8, 3));
    let b = read_all(
        &s,
        ReadRequest {
            partitions: Some(vec![2]),
            ..Default::default()
        },
    )
    .await
    .expect("read");
    assert_eq!(strings(&b, 0)[0].as_deref(), Some("Alice1"));
    // Missing columns are nulls (pandas' outer join of columns); `join: inner` keeps the common.
    let steps = json!([{"method": "cols", "kwargs": {"columns": ["name"]}}]);
    let s = open(&PipelineDriver, json!({"targets": ["df"], "steps": steps}))
        .await
        .expect("open");
    drop(s);
}

#[tokio::test]
async fn concat_columns_and_join_line_rows_up_by_position() {
    let b = pipeline(
        json!(["df", "short"]),
        json!([{"method": "concat", "kwargs": {"dfs": ["df", "short"], "axis": "columns"}}]),
    )
    .await
    .expect("concat");
    assert_eq!((b.num_rows(), b.num_columns()), (4, 6));
    assert_eq!(strings(&b, 3), vec![Some("Zed".into()), None, None, None]);
    let b = pipeline(
        json!(["df", "df1"]),
        json!([{"method": "join", "kwargs": {"other": ["df1"], "rsuffix": 1}}]),
    )
    .await
    .expect("join");
    assert_eq!(
        names(&b),
        ["name", "score", "rank", "name1", "score1", "rank1"]
    );
    assert_eq!(b.num_rows(), 4);
    let e = pipeline(
        json!(["df", "df1"]),
        json!([{"method": "join", "kwargs": {"other": "df1"}}]),
    )
    .await
    .err();
    assert!(
        matches!(&e, Some(DriverError::BadArg { message, .. }) if message.contains("no suffix specified")),
        "{e:?}"
    );
    let b = pipeline(json!(["df", "short"]), json!([{"method": "join", "kwargs": {"other": "short", "how": "inner", "lsuffix": "_l", "rsuffix": "_r"}}])).await.expect("inner");
    assert_eq!(b.num_rows(), 1);
    assert_eq!(names(&b)[0], "name_l");
}

#[tokio::test]
async fn merge_is_an_inner_join_in_left_order_with_suffixes() {
    let b = pipeline(
        json!(["df", "df1"]),
        json!([{"method": "merge", "kwargs": {"right": "df1", "on": "rank"}}]),
    )
    .await
    .expect("merge");
    assert_eq!(
        names(&b),
        ["name_x", "score_x", "rank", "name_y", "score_y"]
    );
    assert_eq!(b.num_rows(), 6);
    assert_eq!(
        strings(&b, 0),
        some(&["Alice", "Bob", "Charlie", "Charlie", "Eve", "Eve"])
    );
    assert_eq!(
        strings(&b, 3),
        some(&["Alice1", "Bob1", "Charlie1", "Eve1", "Charlie1", "Eve1"])
    );
    let b = pipeline(
        json!(["df", "short"]),
        json!([{"method": "merge", "kwargs": {"right": "short", "on": "rank", "how": "left"}}]),
    )
    .await
    .expect("left");
    assert_eq!(b.num_rows(), 4);
    assert!(b.column(3).is_null(0));
}

#[tokio::test]
async fn a_merge_over_its_bound_is_a_clear_error() {
    let budget = inlet_driver::MemoryBudget::new(1024, std::time::Duration::from_millis(10));
    let mut ctx = ctx_with(catalog());
    ctx.limits.budget = Some(budget);
    let args = obj(
        json!({"targets": ["df", "big"], "steps": [{"method": "merge", "kwargs": {"right": "big", "on": "rank"}}]}),
    );
    let s = PipelineDriver.open(&args, &ctx).await.expect("open");
    let e = read_all(&s, Default::default()).await;
    assert!(
        matches!(&e, Err(DriverError::Unsupported(m)) if m.contains("right side `big` is over the 0 KiB")),
        "{e:?}"
    );
}

#[tokio::test]
async fn intake_refusals_and_python_are_typed_errors_at_open() {
    let err = |targets: J, steps: J| async move {
        open(&PipelineDriver, json!({"targets": targets, "steps": steps}))
            .await
            .err()
    };
    let e = err(json!(["df"]), json!([{"method": "iloc"}])).await;
    assert!(
        matches!(&e, Some(DriverError::BadArg { message, .. }) if message.contains("step 1 `iloc`: loc and iloc")),
        "{e:?}"
    );
    let e = err(
        json!(["df"]),
        json!([{"method": "merge", "kwargs": {"right": "df1", "on": "rank"}}]),
    )
    .await;
    assert!(
        matches!(&e, Some(DriverError::BadArg { message, .. }) if message.contains("step 1 `merge`: `df1` is not listed in the targets")),
        "{e:?}"
    );
    let e = err(json!(["df"]), json!([{"method": "cols", "kwargs": {"columns": "name"}}, {"method": "apply", "kwargs": {"func": "x.y"}}])).await;
    assert!(
        matches!(&e, Some(DriverError::Unsupported(m)) if m == "step 2 `apply` calls the Python function `x.y`; Inlet cannot run Python: serve the result as a file instead"),
        "{e:?}"
    );
    let e = err(
        json!(["df"]),
        json!([{"method": "intake.source.tests.util.zscore"}]),
    )
    .await;
    assert!(
        matches!(&e, Some(DriverError::Unsupported(m)) if m.contains("step 1 `intake.source.tests.util.zscore` calls the Python function")),
        "{e:?}"
    );
    let e = open(
        &TransformDriver,
        json!({"targets": ["df"], "transform": "builtins.len", "transform_kwargs": {}}),
    )
    .await
    .err();
    assert!(
        matches!(&e, Some(DriverError::Unsupported(m)) if m.contains("`builtins.len`")),
        "{e:?}"
    );
    let e = err(
        json!(["df"]),
        json!([{"method": "groupby", "kwargs": {"by": "rank"}}]),
    )
    .await;
    assert!(
        matches!(&e, Some(DriverError::Unsupported(m)) if m.contains("`groupby` is not an operation Inlet does")),
        "{e:?}"
    );
    // A missing column is found at discovery, as Intake finds it at read.
    let s = open(
        &PipelineDriver,
        json!({"targets": ["df"], "steps": [{"method": "cols", "kwargs": {"columns": "nope"}}]}),
    )
    .await
    .expect("open");
    let e = s.discover().await.err();
    assert!(
        matches!(&e, Some(DriverError::BadArg { message, .. }) if message == "step 1 `cols`: no column `nope`; columns: name, score, rank"),
        "{e:?}"
    );
}

#[tokio::test]
async fn projection_and_limit_apply_to_the_result() {
    let s = open(&PipelineDriver, json!({"targets": ["df", "df1"], "steps": [{"method": "concat", "kwargs": {"dfs": ["df", "df1"]}}]})).await.expect("open");
    let r = ReadRequest {
        projection: Some(vec!["rank".into()]),
        limit: Some(5),
        batch_size: 2,
        ..Default::default()
    };
    let b = read_all(&s, r).await.expect("read");
    assert_eq!((b.num_rows(), names(&b)), (5, vec!["rank".to_string()]));
}

#[tokio::test]
async fn without_a_catalog_a_derived_source_says_so() {
    let mut ctx = ctx_with(catalog());
    ctx.targets = None;
    let e = AliasDriver
        .open(&obj(json!({"target": "df"})), &ctx)
        .await
        .err();
    assert!(matches!(e, Some(DriverError::Unsupported(_))));
}
