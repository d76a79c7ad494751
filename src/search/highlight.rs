//! The part of a description to show with a result: up to [`WINDOW`] words around the first
//! match, matched words in `<mark>...</mark>` (text as written: front ends escape it).

/// Words shown around a match (what FTS5's `snippet(..., 24)` showed before).
const WINDOW: usize = 24;
/// Words kept before the first match, for context.
const BEFORE: usize = 4;

/// `text` with the words that start with one of `terms` (lower case) marked; None when there
/// are no terms or nothing in `text` matches.
pub(super) fn highlight(text: &str, terms: &[String]) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    // Byte spans of the words, as the index cut them.
    let mut spans: Vec<(usize, usize)> = vec![];
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    let hit = |&(s, e): &(usize, usize)| {
        let word = text[s..e].to_lowercase();
        terms.iter().any(|t| word.starts_with(t.as_str()))
    };
    let first = spans.iter().position(hit)?;
    let mut from = first.saturating_sub(BEFORE);
    let to = (from + WINDOW).min(spans.len());
    from = to.saturating_sub(WINDOW).min(from);

    let begin = if from == 0 { 0 } else { spans[from].0 };
    let end = if to == spans.len() {
        text.len()
    } else {
        spans[to - 1].1
    };
    let mut out = String::with_capacity(end - begin + 32);
    if from > 0 {
        out.push('…');
    }
    let mut at = begin;
    for span in &spans[from..to] {
        if hit(span) {
            out.push_str(&text[at..span.0]);
            out.push_str("<mark>");
            out.push_str(&text[span.0..span.1]);
            out.push_str("</mark>");
            at = span.1;
        }
    }
    out.push_str(&text[at..end]);
    if to < spans.len() {
        out.push('…');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn marks_prefix_matches_and_keeps_the_text() {
        assert_eq!(
            highlight("Air temperature, 2 m (K).", &t(&["temp", "k"])).as_deref(),
            Some("Air <mark>temperature</mark>, 2 m (<mark>K</mark>).")
        );
        assert_eq!(highlight("Air temperature", &t(&["wind"])), None);
        assert_eq!(highlight("Air temperature", &[]), None);
        assert_eq!(highlight("", &t(&["a"])), None);
    }

    #[test]
    fn long_text_is_cut_around_the_first_match() {
        let text: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let text = text.join(" ");
        let h = highlight(&text, &t(&["w50"])).expect("match");
        assert!(h.starts_with("…w46 "), "{h}");
        assert!(h.contains("<mark>w50</mark>"), "{h}");
        assert!(h.ends_with("w69…"), "{h}");
        let tail = highlight(&text, &t(&["w99"])).expect("match");
        assert!(
            tail.starts_with("…w76 ") && tail.ends_with("<mark>w99</mark>"),
            "{tail}"
        );
        let head = highlight(&text, &t(&["w1"])).expect("match");
        assert!(head.starts_with("w0 <mark>w1</mark>"), "{head}");
    }
}
