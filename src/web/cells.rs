//! Preview rows as text, with Arrow's display formatting (the same as `inlet head`).

use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};

/// Longest cell shown (longer values are cut with `…`).
const CELL_CHARS: usize = 200;

/// Rows of cells; `None` is a null.
pub type Rows = Vec<Vec<Option<String>>>;

/// At most `limit` rows of `batches`, every cell formatted.
pub fn rows(batches: &[RecordBatch], limit: usize) -> Result<Rows, String> {
    let options = FormatOptions::default();
    let mut out: Rows = vec![];
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        for row in 0..batch.num_rows() {
            if out.len() >= limit {
                return Ok(out);
            }
            let cells = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(col, f)| (!col.is_null(row)).then(|| cut(f.value(row).to_string())))
                .collect();
            out.push(cells);
        }
    }
    Ok(out)
}

fn cut(s: String) -> String {
    if s.chars().count() <= CELL_CHARS {
        return s;
    }
    let mut t: String = s.chars().take(CELL_CHARS).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn cells_are_formatted_nulls_kept_and_rows_limited() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![Some("<b>"), Some("x"), None])),
            ],
        )
        .expect("batch");
        let r = rows(&[batch.clone(), batch], 4).expect("rows");
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], vec![Some("1".into()), Some("<b>".into())]);
        assert_eq!(r[1][0], None);
        assert_eq!(r[3], r[0]);
        assert_eq!(cut("é".repeat(300)).chars().count(), CELL_CHARS + 1);
    }
}
