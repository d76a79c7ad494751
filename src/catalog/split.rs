//! Splitting a large catalog's `sources:` block at its entry keys, so that the pieces are parsed
//! on several threads with exact positions (a 100,000-entry file is one long mapping, and YAML
//! scanning is the bulk of loading it).
//!
//! Only the plain layout is split: one document whose top-level `sources:` is a block mapping
//! with every entry key at one indentation. This is a pre-cut, not a parse: the caller parses
//! every piece as a document of its own and falls back to the one-pass parse when a piece does
//! not stand alone (an alias to an anchor in another piece, a scalar that spans lines at the
//! entry indentation, a name repeated across pieces), so a wrong cut costs time, never meaning.

/// A catalog cut into the text around its `sources:` block and runs of whole entries.
#[derive(Debug)]
pub struct Split<'a> {
    /// The file with the lines of the `sources:` block emptied (the same number of lines, so
    /// positions hold): what remains to parse for `name`, `metadata` and the rest.
    pub rest: String,
    /// Runs of whole entries, each with the 1-based line of the file it starts on.
    pub pieces: Vec<(u32, &'a str)>,
}

/// The content of a line without its line break.
fn content(line: &str) -> &str {
    line.trim_end_matches('\n').trim_end_matches('\r')
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = content(line).trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Cuts `text` into at most `pieces` runs of entries of about equal size, or None when the file
/// is not of the plain layout or too small to be worth it (fewer than `min_entries` entries).
pub fn split_sources(text: &str, pieces: usize, min_entries: usize) -> Option<Split<'_>> {
    // A lone `\r` is a line break to YAML but not to `lines`; a BOM shifts columns.
    if pieces < 2 || text.starts_with('\u{feff}') || text.replace("\r\n", "").contains('\r') {
        return None;
    }
    let mut starts = Vec::new(); // byte offset of each line
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        starts.push(offset);
        offset += line.len();
    }
    let line_at = |i: usize| {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        &text[starts[i]..end]
    };
    let n_lines = starts.len();
    let mut sources = None;
    for i in 0..n_lines {
        let line = content(line_at(i));
        // Several documents or directives: not the plain layout.
        if line.starts_with("---") || line.starts_with("...") || line.starts_with('%') {
            return None;
        }
        if let Some(after) = line.strip_prefix("sources:") {
            let after = after.trim_start_matches(' ');
            if !(after.is_empty() || after.starts_with('#')) || sources.is_some() {
                return None;
            }
            sources = Some(i);
        }
    }
    let first = sources? + 1;
    // The block ends at the next line with content in column 1.
    let end = (first..n_lines)
        .find(|&i| {
            let l = line_at(i);
            !is_blank_or_comment(l) && indent(l) == 0
        })
        .unwrap_or(n_lines);
    let first_entry = (first..end).find(|&i| !is_blank_or_comment(line_at(i)))?;
    let entry_indent = indent(line_at(first_entry));
    let lead = content(line_at(first_entry))[entry_indent..]
        .chars()
        .next()?;
    if entry_indent == 0 || matches!(lead, '-' | '?' | '{' | '[' | '&' | '*' | '!' | '|' | '>') {
        return None;
    }
    let mut entries = Vec::new();
    for i in first_entry..end {
        let l = line_at(i);
        if is_blank_or_comment(l) {
            continue;
        }
        match indent(l) {
            n if n == entry_indent => entries.push(i),
            n if n < entry_indent => return None,
            _ => {}
        }
    }
    if entries.len() < min_entries.max(2 * pieces) {
        return None;
    }
    let block_start = starts[first];
    let block_end = starts.get(end).copied().unwrap_or(text.len());
    let target = (block_end - block_start) / pieces + 1;
    let mut cuts = vec![first];
    for &i in &entries[1..] {
        if cuts.len() < pieces && starts[i] - block_start >= target * cuts.len() {
            cuts.push(i);
        }
    }
    let pieces = cuts
        .iter()
        .enumerate()
        .map(|(k, &line)| {
            let to = cuts.get(k + 1).map_or(block_end, |&next| starts[next]);
            (
                u32::try_from(line + 1).unwrap_or(u32::MAX),
                &text[starts[line]..to],
            )
        })
        .collect();
    let breaks = text[block_start..block_end].matches('\n').count();
    let mut rest = String::with_capacity(block_start + breaks + text.len() - block_end);
    rest.push_str(&text[..block_start]);
    rest.extend(std::iter::repeat_n('\n', breaks));
    rest.push_str(&text[block_end..]);
    Some(Split { rest, pieces })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(n: usize) -> String {
        let mut s = String::from("name: big\n# a comment\nsources:\n  # first\n");
        for i in 0..n {
            s.push_str(&format!(
                "  e{i}:\n    driver: csv\n    args:\n      urlpath: f{i}.csv\n\n"
            ));
        }
        s.push_str("metadata:\n  version: 1\n");
        s
    }

    #[test]
    fn pieces_are_whole_entries_and_rest_keeps_every_line() {
        let text = catalog(10);
        let split = split_sources(&text, 3, 0).expect("plain layout");
        assert_eq!(split.pieces.len(), 3);
        assert_eq!(
            split.pieces[0].0, 4,
            "the first piece starts after `sources:`"
        );
        let joined: String = split.pieces.iter().map(|p| p.1).collect();
        assert!(text.contains(&joined));
        for (line, piece) in &split.pieces[1..] {
            assert!(piece.starts_with("  e"), "{piece:?}");
            let want = text.lines().nth(*line as usize - 1).expect("line");
            assert_eq!(piece.lines().next(), Some(want));
        }
        assert_eq!(split.rest.lines().count(), text.lines().count());
        assert!(split.rest.contains("sources:\n\n"));
        assert!(split.rest.ends_with("metadata:\n  version: 1\n"));
    }

    #[test]
    fn other_layouts_are_not_split() {
        assert!(
            split_sources(&catalog(1), 2, 0).is_none(),
            "too few entries"
        );
        let flow = "sources: {a: {driver: csv}, b: {driver: csv}}\n";
        assert!(split_sources(flow, 2, 0).is_none());
        let two_docs = format!("---\n{}", catalog(10));
        assert!(split_sources(&two_docs, 2, 0).is_none());
        let odd = catalog(10).replace("  e5:\n", " e5:\n");
        assert!(
            split_sources(&odd, 2, 0).is_none(),
            "an entry at another indentation"
        );
        let list = "sources:\n  - a\n  - b\n  - c\n  - d\n  - e\n";
        assert!(split_sources(list, 2, 0).is_none());
    }
}
