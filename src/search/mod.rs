//! Search over the sources of one catalog snapshot: names, descriptions, tags, and column names
//! and types once discovered; ranked (BM25 over weighted fields, then popularity), filtered,
//! faceted and limited to what the caller may see.
//!
//! The index is held in memory, one per snapshot, by every server (and built by `inlet search`).
//! Ranking and facet counts cover every match, so their cost is the number of matches: in SQL
//! (FTS5, tsvector) a common word over 100,000 sources took 0.2-0.5 s and a filter without text
//! over 1 s, in memory a few milliseconds. What must be shared or outlive a process stays in SQL:
//! the columns discovery found (`Store::set_columns`), usage (popularity), tokens.
//!
//! Text a caller types is only ever compared with indexed words: it is cut into words (letters
//! and digits), each matching as a word prefix.

mod highlight;
mod index;

use std::collections::BTreeMap;

use serde::Serialize;

pub use index::SearchIndex;

/// What is indexed of one source.
#[derive(Debug, Clone, Default)]
pub struct IndexDoc {
    pub name: String,
    pub catalog: String,
    pub driver: String,
    pub summary: String,
    pub description: String,
    pub status: String,
    /// Lower case.
    pub tags: Vec<String>,
    /// (name, Arrow type) once discovery has run.
    pub columns: Option<Vec<(String, String)>>,
}

/// Names a caller may see: `exact`, or anything starting with `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRule {
    pub exact: Option<String>,
    pub prefix: String,
}

impl NameRule {
    pub fn admits(&self, name: &str) -> bool {
        self.exact.as_deref() == Some(name) || name.starts_with(&self.prefix)
    }
}

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Free text; every word must match (as a word prefix) in a name, description, tag or column.
    pub text: String,
    pub driver: Option<String>,
    /// A catalog and everything under it.
    pub catalog: Option<String>,
    /// Every tag must be present (case-insensitive).
    pub tags: Vec<String>,
    /// Every column must be present (case-insensitive).
    pub columns: Vec<String>,
    /// None: every name; Some: only names one of the rules admits.
    pub visible: Option<Vec<NameRule>>,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SearchHit {
    pub name: String,
    pub driver: String,
    pub summary: String,
    pub status: String,
    /// Higher is better; 0 when there is no search text.
    pub rank: f64,
    /// The description with matched words in `<mark>...</mark>`, when the text matched it.
    pub highlight: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// All matches (every page).
    pub total: usize,
    /// Counts by `driver`, `catalog` and `tags` over all matches.
    pub facets: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Lower-case words of letters and digits: what is indexed, and what a query is cut into.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The different words of a query, in their first order (a word given twice matches as once).
pub fn query_words(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    words(text).filter(|w| seen.insert(w.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_letters_and_digits_only() {
        let all = |t| words(t).collect::<Vec<_>>();
        assert_eq!(all("'; drop table tokens; --"), ["drop", "table", "tokens"]);
        assert!(all("%_\\").is_empty());
        assert_eq!(all("Trips_2024.csv"), ["trips", "2024", "csv"]);
        assert_eq!(query_words("a,A,b a"), ["a", "b"]);
    }
}
