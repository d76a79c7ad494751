//! `columns_with_iterables`: CSV columns holding Python list or tuple literals
//! (`"['tas', 'pr']"`, as intake-esm writes them and reads them back with `ast.literal_eval`)
//! served as `list<string>`.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use futures::StreamExt;
use inlet_driver::{BatchStream, Discovery, DriverError, ReadRequest, Result, Source};

pub struct IterableSource {
    inner: Arc<dyn Source>,
    columns: Vec<String>,
    discovery: Arc<Discovery>,
}

fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

impl IterableSource {
    pub async fn new(inner: Arc<dyn Source>, columns: Vec<String>) -> Result<IterableSource> {
        let d = inner.discover().await?;
        let mut fields: Vec<Field> = d
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut converted = vec![];
        for c in &columns {
            let Some(f) = fields.iter_mut().find(|f| f.name() == c) else {
                let names: Vec<&str> = d
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                return Err(DriverError::bad_arg(
                    "columns_with_iterables",
                    format!(
                        "names `{c}`, which is not a column; columns: {}",
                        names.join(", ")
                    ),
                ));
            };
            match f.data_type() {
                DataType::Utf8 => {
                    *f = Field::new(c, list_type(), true);
                    converted.push(c.clone());
                }
                // An inline catalog_dict holds real lists already.
                DataType::List(_) => {}
                other => {
                    return Err(DriverError::bad_arg(
                        "columns_with_iterables",
                        format!("column `{c}` is read as {other}, not text holding list literals"),
                    ))
                }
            }
        }
        let mut discovery = Discovery::clone(&d);
        discovery.schema = Arc::new(Schema::new_with_metadata(
            fields,
            d.schema.metadata().clone(),
        ));
        Ok(IterableSource {
            inner,
            columns: converted,
            discovery: Arc::new(discovery),
        })
    }
}

#[async_trait]
impl Source for IterableSource {
    async fn discover(&self) -> Result<Arc<Discovery>> {
        Ok(self.discovery.clone())
    }

    async fn read(&self, request: ReadRequest) -> Result<BatchStream> {
        let schema: SchemaRef = self.discovery.projected_schema(&request)?;
        let columns = self.columns.clone();
        let stream = self.inner.read(request).await?;
        Ok(stream
            .map(move |b| b.and_then(|b| convert(&b, &schema, &columns)))
            .boxed())
    }
}

fn convert(batch: &RecordBatch, schema: &SchemaRef, columns: &[String]) -> Result<RecordBatch> {
    let arrays: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(batch.schema().fields())
        .map(|(a, f)| match a.as_any().downcast_ref::<StringArray>() {
            Some(s) if columns.contains(f.name()) => Arc::new(to_lists(s)) as ArrayRef,
            _ => a.clone(),
        })
        .collect();
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| DriverError::Io(format!("columns_with_iterables: {e}")))
}

fn to_lists(s: &StringArray) -> arrow_array::ListArray {
    let mut b = ListBuilder::new(StringBuilder::new());
    for v in s.iter() {
        match v {
            None => b.append_null(),
            Some(text) => {
                for item in literal_items(text) {
                    b.values().append_value(item);
                }
                b.append(true);
            }
        }
    }
    b.finish()
}

/// The items of a Python list/tuple/set literal, as text; anything else is one item.
pub fn literal_items(text: &str) -> Vec<String> {
    let t = text.trim();
    let inner = match (t.chars().next(), t.chars().last()) {
        (Some('['), Some(']')) | (Some('('), Some(')')) | (Some('{'), Some('}'))
            if t.len() >= 2 =>
        {
            &t[1..t.len() - 1]
        }
        _ => return vec![t.to_string()],
    };
    let mut items = vec![];
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let Some(&c) = chars.peek() else { break };
        let mut item = String::new();
        if c == '\'' || c == '"' {
            chars.next();
            while let Some(x) = chars.next() {
                match x {
                    '\\' => {
                        if let Some(e) = chars.next() {
                            item.push(e);
                        }
                    }
                    q if q == c => break,
                    x => item.push(x),
                }
            }
        } else {
            while let Some(&x) = chars.peek() {
                if x == ',' {
                    break;
                }
                item.push(x);
                chars.next();
            }
            item = item.trim().to_string();
        }
        items.push(item);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_literals_split_into_items() {
        assert_eq!(literal_items("['tas', 'pr']"), ["tas", "pr"]);
        assert_eq!(literal_items("('a,b',)"), ["a,b"]);
        assert_eq!(literal_items("[]"), Vec::<String>::new());
        assert_eq!(literal_items("[1, 2.5]"), ["1", "2.5"]);
        assert_eq!(literal_items("tas"), ["tas"]);
        assert_eq!(literal_items(r#"["it's"]"#), ["it's"]);
    }
}
