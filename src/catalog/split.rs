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
    /// Runs of whole entries.
    pub pieces: Vec<Run<'a>>,
}

/// A run of whole entries of a `sources:` block.
#[derive(Debug)]
pub struct Run<'a> {
    /// The 1-based line of the file the run starts on.
    pub first_line: u32,
    pub text: &'a str,
    /// How many entries it holds (lines at the entry indentation), to size what it parses to.
    pub entries: usize,
}

/// How a line of the file starts.
enum Line {
    /// Only spaces, or spaces and a comment.
    Blank,
    /// Content after this many spaces.
    Content(usize),
}

fn classify(line: &str) -> Line {
    let bytes = line.as_bytes();
    let n = bytes.iter().take_while(|&&b| b == b' ').count();
    match bytes.get(n) {
        None | Some(b'\n' | b'\r' | b'#') => Line::Blank,
        Some(_) => Line::Content(n),
    }
}

/// The lines of `text` with their line breaks, as `split_inclusive('\n')` gives them, found
/// with `memchr` (a 100,000-entry catalog has over a million lines).
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut from = 0;
    std::iter::from_fn(move || {
        let rest = text.get(from..).filter(|r| !r.is_empty())?;
        let len = memchr::memchr(b'\n', rest.as_bytes()).map_or(rest.len(), |i| i + 1);
        from += len;
        rest.get(..len)
    })
}

/// A `\r` not followed by `\n`: a line break to YAML but not to `split_inclusive('\n')`.
fn has_lone_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'\r', bytes).any(|at| bytes.get(at + 1) != Some(&b'\n'))
}

/// Cuts `text` into at most `pieces` runs of entries of about equal size, or None when the file
/// is not of the plain layout or too small to be worth it (fewer than `min_entries` entries).
/// One pass over the lines, nothing copied but the short `rest`: this runs before any thread
/// starts, so its time is added to the load whole.
pub fn split_sources(text: &str, pieces: usize, min_entries: usize) -> Option<Split<'_>> {
    // A BOM shifts columns.
    if pieces < 2 || text.starts_with('\u{feff}') || has_lone_cr(text) {
        return None;
    }
    /// Where the `sources:` block is in the pass.
    enum State {
        Before,
        /// Inside it, with the entry indentation once the first entry is seen.
        Inside(Option<usize>),
        After,
    }
    let mut state = State::Before;
    // The byte offsets of the block, its line breaks, and its entries (1-based line, offset).
    let (mut block_start, mut block_end, mut breaks) = (0, text.len(), 0);
    let mut first_line = 0; // 1-based, of the line after `sources:`
    let mut entries: Vec<(u32, usize)> = Vec::new();
    let mut offset = 0;
    for (index, line) in lines(text).enumerate() {
        let here = offset;
        offset += line.len();
        match classify(line) {
            Line::Content(0) => {
                // Several documents or directives: not the plain layout.
                if line.starts_with("---") || line.starts_with("...") || line.starts_with('%') {
                    return None;
                }
                if let State::Inside(_) = state {
                    block_end = here;
                    state = State::After;
                }
                if let Some(after) = line.strip_prefix("sources:") {
                    let after = after.trim_start_matches(' ');
                    let after = after.trim_end_matches('\n').trim_end_matches('\r');
                    if !(after.is_empty() || after.starts_with('#'))
                        || !matches!(state, State::Before)
                    {
                        return None;
                    }
                    state = State::Inside(None);
                    block_start = offset;
                    first_line = u32::try_from(index + 2).unwrap_or(u32::MAX);
                }
                continue;
            }
            Line::Content(n) => {
                if let State::Inside(indent) = &mut state {
                    let entry_indent = *indent.get_or_insert_with(|| {
                        let lead = line[n..].chars().next();
                        if matches!(
                            lead,
                            Some('-' | '?' | '{' | '[' | '&' | '*' | '!' | '|' | '>')
                        ) {
                            usize::MAX // not a block mapping of names: refused below
                        } else {
                            n
                        }
                    });
                    if n == entry_indent {
                        entries.push((u32::try_from(index + 1).unwrap_or(u32::MAX), here));
                    } else if n < entry_indent {
                        return None;
                    }
                }
            }
            Line::Blank => {}
        }
        if let State::Inside(_) = state {
            breaks += usize::from(line.ends_with('\n'));
        }
    }
    if matches!(state, State::Before) || entries.len() < min_entries.max(2 * pieces).max(1) {
        return None;
    }
    let target = (block_end - block_start) / pieces + 1;
    // Where each run starts: its first line, its offset, and its first entry's index.
    let mut cuts = vec![(first_line, block_start, 0)];
    for (index, &(line, at)) in entries.iter().enumerate().skip(1) {
        if cuts.len() < pieces && at - block_start >= target * cuts.len() {
            cuts.push((line, at, index));
        }
    }
    let pieces = cuts
        .iter()
        .enumerate()
        .map(|(k, &(first_line, at, first))| {
            let (to, next) = cuts
                .get(k + 1)
                .map_or((block_end, entries.len()), |&(_, to, next)| (to, next));
            Run {
                first_line,
                text: &text[at..to],
                entries: next - first,
            }
        })
        .collect();
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
            split.pieces[0].first_line, 4,
            "the first piece starts after `sources:`"
        );
        let joined: String = split.pieces.iter().map(|p| p.text).collect();
        assert!(text.contains(&joined));
        assert_eq!(split.pieces.iter().map(|p| p.entries).sum::<usize>(), 10);
        for run in &split.pieces[1..] {
            assert!(run.text.starts_with("  e"), "{:?}", run.text);
            let want = text.lines().nth(run.first_line as usize - 1).expect("line");
            assert_eq!(run.text.lines().next(), Some(want));
            assert_eq!(run.text.matches("driver:").count(), run.entries);
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
