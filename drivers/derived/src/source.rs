//! A pipeline over opened targets as a [`Source`]: discovery builds (and checks) the plan from
//! the targets' schemas; reads stream it.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use inlet_driver::{
    limit_stream, BatchStream, Discovery, Limits, Partition, ReadRequest, Result, Source,
};
use tokio::sync::OnceCell;

use crate::build::Builder;
use crate::exec::Exec;
use crate::spec::Step;

pub struct PipelineSource {
    pub targets: Vec<String>,
    pub sources: HashMap<String, Arc<dyn Source>>,
    pub steps: Vec<Step>,
    pub limits: Limits,
    pub warnings: Vec<String>,
    planned: OnceCell<(Arc<Exec>, Arc<Discovery>)>,
}

impl PipelineSource {
    pub fn new(
        targets: Vec<String>,
        sources: HashMap<String, Arc<dyn Source>>,
        steps: Vec<Step>,
        limits: Limits,
        warnings: Vec<String>,
    ) -> Self {
        PipelineSource {
            targets,
            sources,
            steps,
            limits,
            warnings,
            planned: OnceCell::new(),
        }
    }

    async fn plan(&self) -> Result<&(Arc<Exec>, Arc<Discovery>)> {
        self.planned
            .get_or_try_init(|| async {
                let first = self.targets.first().map(String::as_str).unwrap_or_default();
                let builder = Builder {
                    sources: &self.sources,
                    limits: &self.limits,
                };
                let exec = builder.build(first, &self.steps).await?;
                let discovery = self.describe(&exec);
                Ok((exec, Arc::new(discovery)))
            })
            .await
    }

    fn describe(&self, exec: &Exec) -> Discovery {
        let mut partitions = vec![];
        let mut files = vec![];
        label(exec, &mut partitions, &mut files);
        let mut metadata = serde_json::Map::new();
        metadata.insert("targets".into(), self.targets.clone().into());
        metadata.insert("steps".into(), self.steps.len().into());
        Discovery {
            schema: exec.schema().clone(),
            partitions,
            total_rows: exec.total_rows(),
            total_bytes: None,
            files,
            statistics: vec![],
            metadata,
            warnings: self.warnings.clone(),
        }
    }
}

/// The partitions of an exec, labelled by target (`df#part-0`), with the targets' files.
fn label(exec: &Exec, out: &mut Vec<Partition>, files: &mut Vec<inlet_driver::FileInfo>) {
    match exec {
        Exec::Target {
            name, discovery, ..
        } => {
            let base = files.len();
            files.extend(discovery.files.iter().cloned());
            for p in &discovery.partitions {
                out.push(Partition {
                    id: out.len(),
                    label: format!("{name}#{}", p.label),
                    file: base + p.file,
                    estimated_rows: p.estimated_rows,
                    estimated_bytes: None,
                });
            }
        }
        Exec::Map { input, .. } => label(input, out, files),
        Exec::Concat { inputs, .. } => inputs.iter().for_each(|i| label(i, out, files)),
        Exec::Zip { .. } | Exec::Merge(_) => {
            let what = if matches!(exec, Exec::Merge(_)) {
                "merged"
            } else {
                "joined"
            };
            out.push(Partition {
                id: 0,
                label: what.into(),
                file: 0,
                estimated_rows: exec.total_rows(),
                estimated_bytes: None,
            });
        }
    }
}

#[async_trait]
impl Source for PipelineSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.plan().await?.1.clone())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let (exec, discovery) = self.plan().await?;
        let parts: Vec<Option<usize>> = match &request.partitions {
            None => vec![None],
            Some(_) => discovery
                .select(&request)?
                .iter()
                .map(|p| Some(p.id))
                .collect(),
        };
        let projection = discovery.projection_indices(&request)?;
        let schema = discovery.projected_schema(&request)?;
        let (exec, size) = (exec.clone(), request.batch_size);
        let stream = futures::stream::iter(parts)
            .then(move |p| {
                let exec = exec.clone();
                async move { exec.stream(p, size).await }
            })
            .try_flatten();
        let stream: BatchStream = match projection {
            None => stream.boxed(),
            Some(idx) => stream
                .and_then(move |b| {
                    let cols = idx.iter().map(|i| b.column(*i).clone()).collect();
                    futures::future::ready(crate::ops::batch_of(&schema, cols, b.num_rows()))
                })
                .boxed(),
        };
        Ok(limit_stream(stream, request.limit))
    }
}
