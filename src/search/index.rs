//! The in-memory index: postings per word, one entry per (source, field) the word is in, and the
//! query that walks them.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use super::highlight::highlight;
use super::{query_words, words, IndexDoc, SearchHit, SearchPage, SearchQuery};

/// Where a word was found; each field weighs differently in the rank (a name match counts ten
/// times a description match, as the SQL index weighed them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name = 0,
    Description = 1,
    Tags = 2,
    Columns = 3,
}

const WEIGHTS: [f32; 4] = [10.0, 1.0, 5.0, 3.0];
/// BM25's usual constants (FTS5 and Lucene use the same).
const K1: f32 = 1.2;
const B: f32 = 0.75;

#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    field: Field,
    count: u16,
}

#[derive(Debug, Default)]
struct Term {
    /// Sorted by document.
    postings: Vec<Posting>,
}

#[derive(Debug)]
struct Doc {
    name: String,
    /// Facet values, interned (ids into [`Inner::values`]): counting them costs no hashing.
    catalog: u32,
    driver: u32,
    summary: String,
    description: String,
    status: String,
    tags: Vec<u32>,
    /// Lower-case column names (for `column=` filters); empty until discovered.
    columns: Vec<String>,
    /// The words indexed from the columns, to take them out when they change.
    column_words: Vec<String>,
    /// Words in the document (all fields), for length normalisation.
    length: u32,
    /// Reads served recently: the tie-breaker at equal relevance.
    popularity: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Sorted by name: a document's position is its order among equals.
    docs: Vec<Doc>,
    by_name: HashMap<String, u32>,
    values: Values,
    terms: BTreeMap<String, Term>,
    total_length: u64,
}

/// The search index of one snapshot; queries share it, column updates take it briefly.
#[derive(Debug, Default)]
pub struct SearchIndex {
    inner: RwLock<Inner>,
}

/// Facet values (drivers, catalogs, tags) by id.
#[derive(Debug, Default)]
struct Values {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Values {
    fn id(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(value.to_string());
        self.ids.insert(value.to_string(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

/// Counts of each word of `text`.
fn counted(text: &str) -> BTreeMap<String, u16> {
    let mut counts = BTreeMap::new();
    for w in words(text) {
        let c: &mut u16 = counts.entry(w).or_default();
        *c = c.saturating_add(1);
    }
    counts
}

fn columns_text(columns: &[(String, String)]) -> String {
    columns
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Inner {
    fn add_postings(&mut self, doc: u32, field: Field, counts: BTreeMap<String, u16>) -> u32 {
        let mut length = 0u32;
        for (word, count) in counts {
            length += u32::from(count);
            let postings = &mut self.terms.entry(word).or_default().postings;
            let at = postings
                .partition_point(|p| p.doc < doc || (p.doc == doc && p.field as u8 <= field as u8));
            postings.insert(at, Posting { doc, field, count });
        }
        length
    }

    fn set_columns(&mut self, doc: u32, columns: &[(String, String)]) {
        let Some(d) = self.docs.get_mut(doc as usize) else {
            return;
        };
        let old = std::mem::take(&mut d.column_words);
        let mut removed = 0u32;
        for word in old {
            if let Some(term) = self.terms.get_mut(&word) {
                term.postings.retain(|p| {
                    let gone = p.doc == doc && p.field == Field::Columns;
                    if gone {
                        removed += u32::from(p.count);
                    }
                    !gone
                });
                if term.postings.is_empty() {
                    self.terms.remove(&word);
                }
            }
        }
        let counts = counted(&columns_text(columns));
        let words: Vec<String> = counts.keys().cloned().collect();
        let added = self.add_postings(doc, Field::Columns, counts);
        let d = &mut self.docs[doc as usize];
        d.column_words = words;
        d.columns = columns.iter().map(|(n, _)| n.to_lowercase()).collect();
        d.length = d.length.saturating_sub(removed) + added;
        self.total_length = self.total_length.saturating_sub(u64::from(removed)) + u64::from(added);
    }
}

impl SearchIndex {
    /// Indexes `docs` (names are unique in a snapshot; a repeated name keeps its first entry).
    pub fn build(mut docs: Vec<IndexDoc>) -> SearchIndex {
        docs.sort_by(|a, b| a.name.cmp(&b.name));
        docs.dedup_by(|a, b| a.name == b.name);
        let mut inner = Inner::default();
        for (i, d) in docs.into_iter().enumerate() {
            let id = u32::try_from(i).unwrap_or(u32::MAX);
            let mut tags = d.tags;
            tags.sort();
            tags.dedup();
            let mut length = inner.add_postings(id, Field::Name, counted(&d.name));
            length += inner.add_postings(id, Field::Description, counted(&d.description));
            length += inner.add_postings(id, Field::Tags, counted(&tags.join(" ")));
            inner.total_length += u64::from(length);
            inner.by_name.insert(d.name.clone(), id);
            let catalog = inner.values.id(&d.catalog);
            let driver = inner.values.id(&d.driver);
            let tag_ids = tags.iter().map(|t| inner.values.id(t)).collect();
            inner.docs.push(Doc {
                name: d.name,
                catalog,
                driver,
                summary: d.summary,
                description: d.description,
                status: d.status,
                tags: tag_ids,
                columns: vec![],
                column_words: vec![],
                length,
                popularity: 0,
            });
            if let Some(columns) = &d.columns {
                inner.set_columns(id, columns);
            }
        }
        SearchIndex {
            inner: RwLock::new(inner),
        }
    }

    /// Number of sources indexed.
    pub fn len(&self) -> usize {
        self.inner.read().map_or(0, |i| i.docs.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes `columns` the searchable columns of `name`; false when `name` is not indexed or the
    /// columns are the same.
    pub fn set_columns(&self, name: &str, columns: &[(String, String)]) -> bool {
        let Ok(mut inner) = self.inner.write() else {
            return false;
        };
        let Some(&doc) = inner.by_name.get(name) else {
            return false;
        };
        let lower: Vec<String> = columns.iter().map(|(n, _)| n.to_lowercase()).collect();
        let words: Vec<String> = counted(&columns_text(columns)).into_keys().collect();
        let d = &inner.docs[doc as usize];
        if d.columns == lower && d.column_words == words {
            return false;
        }
        inner.set_columns(doc, columns);
        true
    }

    /// Sets how often each source was read recently (sources not named: 0).
    pub fn set_popularity(&self, reads: &HashMap<String, u64>) {
        if let Ok(mut inner) = self.inner.write() {
            for d in &mut inner.docs {
                d.popularity = reads.get(&d.name).copied().unwrap_or(0);
            }
        }
    }

    /// One page of ranked matches of `q`, with the total and facet counts over all of them.
    pub fn search(&self, q: &SearchQuery) -> SearchPage {
        let terms = query_words(&q.text);
        let Ok(inner) = self.inner.read() else {
            return SearchPage::default();
        };
        if terms.is_empty() && !q.text.trim().is_empty() {
            // Only punctuation: nothing can match it.
            return SearchPage::default();
        }
        let n = inner.docs.len();
        let (candidates, score) = if terms.is_empty() {
            ((0..n as u32).collect::<Vec<_>>(), vec![])
        } else {
            inner.matches(&terms)
        };
        // Filters on facet values become ids (a value no source has matches nothing).
        let ids = |v: &str| inner.values.ids.get(v).copied();
        let driver = q.driver.as_deref().map(ids);
        let tags: Option<Vec<u32>> = q.tags.iter().map(|t| ids(&t.to_lowercase())).collect();
        let catalogs: Option<Vec<bool>> = q.catalog.as_ref().map(|c| {
            let under = format!("{c}.");
            inner
                .values
                .names
                .iter()
                .map(|v| v == c || v.starts_with(&under))
                .collect()
        });
        let columns: Vec<String> = q.columns.iter().map(|c| c.to_lowercase()).collect();
        let admitted = |d: &Doc| {
            driver.is_none_or(|x| x == Some(d.driver))
                && catalogs
                    .as_ref()
                    .is_none_or(|c| c.get(d.catalog as usize).copied().unwrap_or(false))
                && tags
                    .as_ref()
                    .is_some_and(|t| t.iter().all(|t| d.tags.contains(t)))
                && columns.iter().all(|c| d.columns.contains(c))
                && q.visible
                    .as_ref()
                    .is_none_or(|rules| rules.iter().any(|r| r.admits(&d.name)))
        };
        let mut hits: Vec<u32> = candidates
            .into_iter()
            .filter(|&i| admitted(&inner.docs[i as usize]))
            .collect();

        let mut page = SearchPage {
            total: hits.len(),
            ..SearchPage::default()
        };
        let mut counts = vec![[0usize; 3]; inner.values.names.len()];
        for &i in &hits {
            let d = &inner.docs[i as usize];
            counts[d.driver as usize][0] += 1;
            counts[d.catalog as usize][1] += 1;
            for &t in &d.tags {
                counts[t as usize][2] += 1;
            }
        }
        for (k, facet) in ["driver", "catalog", "tags"].into_iter().enumerate() {
            let found: BTreeMap<String, usize> = counts
                .iter()
                .enumerate()
                .filter(|(_, c)| c[k] > 0)
                .map(|(id, c)| (inner.values.name(id as u32).to_string(), c[k]))
                .collect();
            if !found.is_empty() {
                page.facets.insert(facet.to_string(), found);
            }
        }

        // Best first: rank, then popularity, then name (documents are in name order).
        let rank = |i: u32| score.get(i as usize).copied().unwrap_or(0.0);
        let order = |a: &u32, b: &u32| {
            rank(*b)
                .total_cmp(&rank(*a))
                .then_with(|| {
                    inner.docs[*b as usize]
                        .popularity
                        .cmp(&inner.docs[*a as usize].popularity)
                })
                .then_with(|| a.cmp(b))
        };
        let end = q.offset.saturating_add(q.limit).min(hits.len());
        if end == 0 || q.offset >= hits.len() {
            return page;
        }
        if end < hits.len() {
            hits.select_nth_unstable_by(end - 1, order);
            hits.truncate(end);
        }
        hits.sort_unstable_by(order);
        page.hits = hits[q.offset..]
            .iter()
            .map(|&i| {
                let d = &inner.docs[i as usize];
                SearchHit {
                    name: d.name.clone(),
                    driver: inner.values.name(d.driver).to_string(),
                    summary: d.summary.clone(),
                    status: d.status.clone(),
                    rank: f64::from(rank(i)),
                    highlight: highlight(&d.description, &terms),
                }
            })
            .collect();
        page
    }
}

impl Inner {
    /// Documents that match every word (as a word prefix, in any field), with their BM25 score
    /// (a vector indexed by document).
    fn matches(&self, terms: &[String]) -> (Vec<u32>, Vec<f32>) {
        let n = self.docs.len();
        let mut score = vec![0f32; n];
        let mut matched = vec![0u8; n];
        // Weighted occurrences of the current word per document, and which documents have one.
        let mut freq = vec![0f32; n];
        let mut touched: Vec<u32> = vec![];
        let mut all: Vec<u32> = vec![];
        let average = if n == 0 {
            1.0
        } else {
            self.total_length as f32 / n as f32
        }
        .max(1.0);
        for (k, word) in terms.iter().enumerate() {
            touched.clear();
            for (_, term) in self
                .terms
                .range::<str, _>((
                    std::ops::Bound::Included(word.as_str()),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(t, _)| t.starts_with(word.as_str()))
            {
                for p in &term.postings {
                    let f = &mut freq[p.doc as usize];
                    if *f == 0.0 {
                        touched.push(p.doc);
                    }
                    *f += WEIGHTS[p.field as usize] * f32::from(p.count);
                }
            }
            // Inverse document frequency of the word, as FTS5's bm25() floors it.
            let found = touched.len() as f32;
            let idf = ((n as f32 - found + 0.5) / (found + 0.5)).ln().max(1e-6);
            for &doc in &touched {
                let d = doc as usize;
                let f = std::mem::take(&mut freq[d]);
                // Only documents that matched every word so far can match them all.
                if usize::from(matched[d]) != k {
                    continue;
                }
                let norm = K1 * (1.0 - B + B * self.docs[d].length as f32 / average);
                score[d] += idf * f * (K1 + 1.0) / (f + norm);
                matched[d] += 1;
                if k + 1 == terms.len() {
                    all.push(doc);
                }
            }
        }
        (all, score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::NameRule;

    fn doc(name: &str, driver: &str, description: &str, tags: &[&str]) -> IndexDoc {
        IndexDoc {
            name: name.into(),
            catalog: name.rsplit_once('.').map_or("", |c| c.0).into(),
            driver: driver.into(),
            summary: description.lines().next().unwrap_or("").into(),
            description: description.into(),
            status: "ok".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            columns: None,
        }
    }

    fn names(page: &SearchPage) -> Vec<&str> {
        page.hits.iter().map(|h| h.name.as_str()).collect()
    }

    fn q(text: &str) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            limit: 10,
            ..SearchQuery::default()
        }
    }

    fn sample() -> SearchIndex {
        SearchIndex::build(vec![
            doc("a.trips", "parquet", "Taxi trips", &["transport"]),
            doc(
                "a.stations",
                "csv",
                "Bike stations of the trips network",
                &["transport"],
            ),
            doc("b.air", "zarr", "Air temperature", &["climate"]),
        ])
    }

    #[test]
    fn ranks_filters_and_counts() {
        let index = sample();
        let page = index.search(&q("trips"));
        assert_eq!(page.total, 2);
        assert_eq!(
            names(&page),
            ["a.trips", "a.stations"],
            "a name match ranks first"
        );
        assert!(page.hits[0].rank > page.hits[1].rank);
        assert_eq!(page.facets["tags"]["transport"], 2);
        assert_eq!(page.facets["driver"]["csv"], 1);
        assert_eq!(index.search(&q("")).total, 3);
        assert_eq!(
            index.search(&q("tri sta")).total,
            1,
            "every word, as a prefix"
        );
        assert_eq!(index.search(&q("trips air")).total, 0);
        assert_eq!(
            index.search(&q("%_\\")).total,
            0,
            "punctuation matches nothing"
        );
        let scoped = index.search(&SearchQuery {
            visible: Some(vec![NameRule {
                exact: Some("b".into()),
                prefix: "b.".into(),
            }]),
            ..q("")
        });
        assert_eq!(scoped.total, 1);
        assert_eq!(scoped.facets["catalog"].len(), 1);
        let none = index.search(&SearchQuery {
            visible: Some(vec![]),
            ..q("")
        });
        assert_eq!(none.total, 0);
        assert!(none.facets.is_empty());
        let filtered = index.search(&SearchQuery {
            driver: Some("csv".into()),
            tags: vec!["TRANSPORT".into()],
            catalog: Some("a".into()),
            ..q("trips")
        });
        assert_eq!(names(&filtered), ["a.stations"]);
        // `catalog=a` is `a` and what is under it, not every name starting with "a".
        let other = SearchIndex::build(vec![
            doc("ab.x", "csv", "x", &[]),
            doc("a.b.y", "csv", "y", &[]),
        ]);
        let under = other.search(&SearchQuery {
            catalog: Some("a".into()),
            ..q("")
        });
        assert_eq!(names(&under), ["a.b.y"]);
    }

    #[test]
    fn columns_are_searchable_and_replaceable() {
        let index = sample();
        assert!(index.set_columns("b.air", &[("Temperature".into(), "Float32".into())]));
        assert!(!index.set_columns("b.air", &[("Temperature".into(), "Float32".into())]));
        assert!(!index.set_columns("nope", &[]));
        let by_col = index.search(&SearchQuery {
            columns: vec!["temperature".into()],
            ..q("")
        });
        assert_eq!(names(&by_col), ["b.air"]);
        assert_eq!(index.search(&q("float32")).total, 1);
        assert!(index.set_columns("b.air", &[("t2m".into(), "Float64".into())]));
        assert_eq!(index.search(&q("float32")).total, 0, "old columns are gone");
        assert_eq!(index.search(&q("float64")).total, 1);
        assert_eq!(
            index.search(&q("temperature")).total,
            1,
            "the description still matches"
        );
    }

    #[test]
    fn pages_follow_the_order_and_popularity_breaks_ties() {
        let docs = (0..50)
            .map(|i| doc(&format!("c.s{i:02}"), "csv", "same words", &[]))
            .collect();
        let index = SearchIndex::build(docs);
        let mut seen = vec![];
        for offset in (0..50).step_by(7) {
            let page = index.search(&SearchQuery {
                offset,
                limit: 7,
                ..q("same")
            });
            assert_eq!(page.total, 50);
            seen.extend(page.hits.into_iter().map(|h| h.name));
        }
        let expected: Vec<String> = (0..50).map(|i| format!("c.s{i:02}")).collect();
        assert_eq!(
            seen, expected,
            "equal ranks: by name, no repeats, none missing"
        );
        index.set_popularity(&HashMap::from([
            ("c.s42".to_string(), 9),
            ("c.s07".to_string(), 3),
        ]));
        let page = index.search(&q("same"));
        assert_eq!(&names(&page)[..3], ["c.s42", "c.s07", "c.s00"]);
        let beyond = index.search(&SearchQuery {
            offset: 60,
            ..q("same")
        });
        assert!(beyond.hits.is_empty());
        assert_eq!(beyond.total, 50);
    }

    #[test]
    fn highlights_mark_the_matched_words() {
        let index = sample();
        let page = index.search(&q("temp"));
        assert_eq!(
            page.hits[0].highlight.as_deref(),
            Some("Air <mark>temperature</mark>")
        );
        assert_eq!(index.search(&q("")).hits[0].highlight, None);
    }
}
