//! Intake's derived sources: entries whose data is computed from other entries of the catalog
//! (`alias`, `Columns`, `DataFramePipeline`), as Arrow, without Python.
//!
//! The drivers know nothing of catalogs: they reach their targets through
//! [`OpenContext::targets`](inlet_driver::OpenContext) and compose the [`Source`]s it opens.
//! An alias is its target; a pipeline streams what it can (`cols`, `str.lower`/`str.upper`,
//! `assign` of a constant, `concat` of rows: batch by batch, keeping the targets' partitions),
//! joins by position side by side (`join`, `concat` of columns, `assign` of a target), and holds
//! only the right side of a `merge` (bounded, see [`merge::RIGHT_SIDE_LIMIT`]). Steps that call
//! Python (`apply`, `transform`, a dotted function, `GenericTransform`) are refused at open.
#![forbid(unsafe_code)]

mod build;
mod exec;
pub mod merge;
mod ops;
mod source;
pub mod spec;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use inlet_driver::{Driver, DriverError, DriverNames, OpenContext, Result, Source};
use serde_json::{Map, Value as J};

pub use source::PipelineSource;
pub use spec::{parse, Refusal, Spec, Step};

/// Args every derived source accepts and Inlet has no use for (Intake's bookkeeping).
const IGNORED: &[&str] = &["metadata", "container", "cat_kwargs"];

async fn open_spec(
    driver: &str,
    args: &Map<String, J>,
    ctx: &OpenContext,
) -> Result<Arc<dyn Source>> {
    let spec = spec::parse(driver, args)?;
    let targets = ctx.targets.as_ref().ok_or_else(|| {
        DriverError::Unsupported(
            "a derived source reads other entries of its catalog, and there is none here".into(),
        )
    })?;
    match spec {
        Spec::Alias { target, params } => targets.open("target", &target, &params).await,
        Spec::Pipeline {
            targets: names,
            params,
            steps,
        } => {
            let mut sources = HashMap::new();
            for name in &names {
                let p = match params.get(name) {
                    Some(J::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                sources.insert(name.clone(), targets.open("targets", name, &p).await?);
            }
            let known: &[&str] = &[
                "targets",
                "target_chooser",
                "target_kwargs",
                "steps",
                "columns",
            ];
            let warnings = args
                .keys()
                .filter(|k| !known.contains(&k.as_str()) && !IGNORED.contains(&k.as_str()))
                .map(|k| format!("arg `{k}` has no effect on a derived source"))
                .collect();
            Ok(Arc::new(PipelineSource::new(
                names,
                sources,
                steps,
                ctx.limits.clone(),
                warnings,
            )))
        }
    }
}

macro_rules! derived_driver {
    ($ty:ident, $names:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $ty;

        #[async_trait]
        impl Driver for $ty {
            fn name(&self) -> &'static str {
                $names[0]
            }
            fn names(&self) -> DriverNames {
                DriverNames {
                    aliases: &$names[1..],
                    intake2_datatypes: &[],
                }
            }
            async fn open(
                &self,
                args: &Map<String, J>,
                ctx: &OpenContext,
            ) -> Result<Arc<dyn Source>> {
                open_spec($names[0], args, ctx).await
            }
        }
    };
}

derived_driver!(
    AliasDriver,
    spec::ALIAS,
    "`alias` (`AliasSource`): another entry, unchanged; `mapping` lets a parameter choose it."
);
derived_driver!(
    ColumnsDriver,
    spec::COLUMNS,
    "`Columns`: some columns of a target."
);
derived_driver!(
    PipelineDriver,
    spec::PIPELINE,
    "`DataFramePipeline`: steps over targets."
);
derived_driver!(
    TransformDriver,
    spec::TRANSFORM,
    "`GenericTransform` / `DataFrameTransform`: listed, and refused at open (they call Python)."
);

#[cfg(test)]
mod tests;
