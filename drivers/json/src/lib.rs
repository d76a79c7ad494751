//! JSON and text drivers: `json` (Intake's `JSONFileSource`: newline-delimited JSON streamed,
//! or a JSON document read whole: an array of objects, an object, or GeoJSON), `jsonl`
//! (`JSONLinesFileSource`: always line by line) and `textfiles` (`TextFilesSource`: one row per
//! line, or each file decoded as JSON with `decoder: json.loads`).
#![forbid(unsafe_code)]

mod decode;
mod document;
mod lines;
mod text;

use std::sync::Arc;

use async_trait::async_trait;
use inlet_driver::args::Args;
use inlet_driver::storage::Files;
use inlet_driver::{Driver, DriverError, DriverNames, OpenContext, Result, Source};
use inlet_geo::DocumentSource;
use serde_json::{Map, Value as J};

use decode::Compression;
use lines::JsonLinesSource;
use text::TextSource;

pub use decode::without_codec_extension;
pub use document::JsonDocument;

/// Whether a path names newline-delimited JSON by its extension (`.jsonl`, `.ndjson`, also
/// compressed: `.jsonl.gz`).
pub fn is_json_lines(path: &str) -> bool {
    let path = without_codec_extension(path).to_ascii_lowercase();
    path.ends_with(".jsonl") || path.ends_with(".ndjson")
}

/// Where the files are, as the args every JSON/text driver shares say it.
struct Location {
    urlpath: J,
    storage_options: Option<J>,
    compression: Compression,
}

impl Location {
    fn from_args(a: &Args<'_>) -> Result<Self> {
        Ok(Location {
            urlpath: a.required("urlpath")?.clone(),
            storage_options: a.get("storage_options").cloned(),
            compression: Compression::from_arg(a.str("compression")?)?,
        })
    }

    async fn resolve(&self, ctx: &OpenContext) -> Result<Files> {
        ctx.storage
            .resolve(
                &self.urlpath,
                self.storage_options.as_ref(),
                &ctx.catalog_dir,
            )
            .await
    }
}

/// `json`.
pub struct JsonDriver;

#[async_trait]
impl Driver for JsonDriver {
    fn name(&self) -> &'static str {
        "json"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &["intake.source.jsonfiles.JSONFileSource"],
            intake2_datatypes: &["JSONFile"],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let (location, lines, warnings) = {
            let a = Args::new(args);
            let lines = a.bool("lines")?;
            // Intake opens the files in text or binary mode; JSON is UTF-8 either way.
            let _ = a.bool("text_mode")?;
            (Location::from_args(&a)?, lines, a.unused("json"))
        };
        let (files, compression) = (location.resolve(ctx).await?, location.compression);
        let by_extension = files
            .objects
            .iter()
            .all(|m| is_json_lines(m.location.as_ref()));
        if lines.unwrap_or(by_extension && !files.objects.is_empty()) {
            return Ok(Arc::new(JsonLinesSource::new(
                files,
                compression,
                &ctx.limits,
                warnings,
            )));
        }
        Ok(Arc::new(DocumentSource::new(
            JsonDocument { compression },
            files,
            &ctx.limits,
            warnings,
        )))
    }
}

/// `jsonl` (Intake's `JSONLinesFileSource`): newline-delimited JSON whatever the extension.
pub struct JsonLinesDriver;

#[async_trait]
impl Driver for JsonLinesDriver {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &["intake.source.jsonfiles.JSONLinesFileSource", "ndjson"],
            intake2_datatypes: &[],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let (location, warnings) = {
            let a = Args::new(args);
            let _ = a.bool("text_mode")?;
            (Location::from_args(&a)?, a.unused("jsonl"))
        };
        let (files, compression) = (location.resolve(ctx).await?, location.compression);
        Ok(Arc::new(JsonLinesSource::new(
            files,
            compression,
            &ctx.limits,
            warnings,
        )))
    }
}

/// `textfiles`.
pub struct TextFilesDriver;

#[async_trait]
impl Driver for TextFilesDriver {
    fn name(&self) -> &'static str {
        "textfiles"
    }

    fn names(&self) -> DriverNames {
        DriverNames {
            aliases: &["intake.source.textfiles.TextFilesSource"],
            intake2_datatypes: &["Text"],
        }
    }

    async fn open(&self, args: &Map<String, J>, ctx: &OpenContext) -> Result<Arc<dyn Source>> {
        let (location, text_mode, as_json, warnings) = {
            let a = Args::new(args);
            let text_mode = a.bool("text_mode")?.unwrap_or(true);
            // Checked before the files are listed: a bad decoder is the catalog's error.
            let as_json = match a.str("decoder")? {
                None => false,
                Some("json.loads" | "json:loads" | "json") => true,
                Some(other) => {
                    return Err(DriverError::bad_arg(
                        "decoder",
                        format!(
                            "`{other}` is a Python function Inlet cannot run; `json.loads` (each \
                             file one JSON document) is understood, or leave it out for lines"
                        ),
                    ))
                }
            };
            // Intake's `read: true` (the default) hands the decoder the file's content, which
            // is what Inlet does; `read: false` hands it the open file: the same for json.loads.
            let _ = a.bool("read")?;
            match a
                .str("text_encoding")?
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("utf8" | "utf-8") => {}
                Some(other) => {
                    return Err(DriverError::bad_arg(
                        "text_encoding",
                        format!(
                            "`{other}`: Inlet reads UTF-8 text (or bytes with text_mode: false)"
                        ),
                    ))
                }
            }
            let location = Location::from_args(&a)?;
            (location, text_mode, as_json, a.unused("textfiles"))
        };
        let (files, compression) = (location.resolve(ctx).await?, location.compression);
        if as_json {
            return Ok(Arc::new(DocumentSource::new(
                JsonDocument { compression },
                files,
                &ctx.limits,
                warnings,
            )));
        }
        Ok(Arc::new(TextSource::new(
            files,
            compression,
            !text_mode,
            &ctx.limits,
            warnings,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_known_by_extension() {
        assert!(is_json_lines("a/b.jsonl"));
        assert!(is_json_lines("a/b.NDJSON.gz"));
        assert!(!is_json_lines("a/b.json"));
        assert!(!is_json_lines("a/b.geojson"));
    }
}
