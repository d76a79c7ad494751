//! Intake's `path_as_pattern` (a copy of the CSV driver's module: drivers depend only on the API
//! crate, which has no pattern helper yet): `data/{region}/{year:4d}.tif` is globbed as
//! `data/*/*.tif`, and each file's path gives the values of `region` and `year`.
//!
//! Matching is per path segment from the first segment that holds a field: the glob already
//! fixed everything before it, and (as with the glob's `*`) a field never spans a `/`.

use regex::Regex;

/// One piece of a Python format string.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    /// A `{name}` / `{name:spec}` field; an empty name is an anonymous `{}`.
    Field {
        name: String,
        width: Option<usize>,
    },
}

/// Splits a Python format string; `Err` says what is malformed.
fn pieces(pattern: &str) -> Result<Vec<Piece>, String> {
    let mut out = vec![];
    let mut literal = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '}' => {
                return Err(format!(
                    "a lone `}}` in `{pattern}` (write `}}}}` for a brace)"
                ))
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => {
                            return Err(format!("an unclosed `{{` in `{pattern}`"));
                        }
                        Some(c) => field.push(c),
                    }
                }
                if !literal.is_empty() {
                    out.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                let (name, spec) = field.split_once(':').unwrap_or((field.as_str(), ""));
                // `{name!r}`: a conversion changes nothing when reading back.
                let name = name.split('!').next().unwrap_or_default().trim();
                out.push(Piece::Field {
                    name: name.to_string(),
                    width: width(spec),
                });
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        out.push(Piece::Literal(literal));
    }
    Ok(out)
}

/// The width of a format spec (`4d`, `>04`, `02d`), which fixes how many characters the field
/// takes: that is what lets `{year:4d}{month:2d}` be split.
fn width(spec: &str) -> Option<usize> {
    if spec.contains('%') {
        return None; // a strftime format: variable width
    }
    let mut rest = spec;
    let mut it = rest.chars();
    let (first, second) = (it.next(), it.next());
    if second.is_some_and(|c| "<>=^".contains(c)) {
        rest = &rest[first.map_or(0, char::len_utf8) + 1..];
    } else if first.is_some_and(|c| "<>=^".contains(c)) {
        rest = &rest[1..];
    }
    let rest = rest.trim_start_matches(['+', '-', ' ', 'z', '#']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|w| *w > 0)
}

/// The glob for a pattern: each field becomes `*`. None when there is no field.
pub(crate) fn to_glob(pattern: &str) -> Result<Option<String>, String> {
    let pieces = pieces(pattern)?;
    if !pieces.iter().any(|p| matches!(p, Piece::Field { .. })) {
        return Ok(None);
    }
    Ok(Some(
        pieces
            .iter()
            .map(|p| match p {
                Piece::Literal(s) => s.as_str(),
                Piece::Field { .. } => "*",
            })
            .collect(),
    ))
}

/// A compiled path pattern.
#[derive(Debug, Clone)]
pub(crate) struct PathPattern {
    text: String,
    /// Named fields, in order of first appearance: the extra columns.
    fields: Vec<String>,
    /// For each capture group, the field it fills.
    groups: Vec<usize>,
    /// Path segments the regex covers, counted from the end.
    segments: usize,
    regex: Regex,
}

/// A glob's literal text as a regex: `*`, `?` and `[...]` keep their glob meaning.
fn glob_regex(literal: &str, out: &mut String) {
    let mut chars = literal.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                let class: String = chars.by_ref().take_while(|c| *c != ']').collect();
                let class = class
                    .strip_prefix('!')
                    .map_or(class.clone(), |r| format!("^{r}"));
                out.push('[');
                out.push_str(&class.replace('\\', "\\\\"));
                out.push(']');
            }
            c => out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
}

impl PathPattern {
    /// None when the pattern has no field at all (nothing to extract).
    pub(crate) fn parse(pattern: &str) -> Result<Option<PathPattern>, String> {
        let pieces = pieces(pattern)?;
        // Keep the segments from the first one holding a field.
        let mut seen = String::new();
        let mut start = None;
        for p in &pieces {
            match p {
                Piece::Literal(s) => seen.push_str(s),
                Piece::Field { .. } => {
                    start = Some(seen.rfind('/').map_or(0, |i| i + 1));
                    break;
                }
            }
        }
        let Some(start) = start else { return Ok(None) };
        let mut regex = String::from("^");
        let mut fields: Vec<String> = vec![];
        let mut groups = vec![];
        let mut pos = 0;
        let mut slashes = 0;
        for p in &pieces {
            match p {
                Piece::Literal(s) => {
                    // Literals before the first field may start before the kept segments.
                    let from = start.saturating_sub(pos).min(s.len());
                    pos += s.len();
                    slashes += s[from..].matches('/').count();
                    glob_regex(&s[from..], &mut regex);
                }
                Piece::Field { name, width } => {
                    let body = match width {
                        Some(w) => format!("[^/]{{{w}}}"),
                        None => "[^/]*?".to_string(),
                    };
                    if name.is_empty() {
                        regex.push_str(&format!("(?:{body})"));
                    } else {
                        regex.push_str(&format!("({body})"));
                        let idx = match fields.iter().position(|f| f == name) {
                            Some(i) => i,
                            None => {
                                fields.push(name.clone());
                                fields.len() - 1
                            }
                        };
                        groups.push(idx);
                    }
                }
            }
        }
        regex.push('$');
        let segments = slashes + 1;
        let regex = Regex::new(&regex).map_err(|e| format!("cannot match `{pattern}`: {e}"))?;
        Ok(Some(PathPattern {
            text: pattern.to_string(),
            fields,
            groups,
            segments,
            regex,
        }))
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn fields(&self) -> &[String] {
        &self.fields
    }

    /// The field values in `location` (an object path, `/`-separated), or None when it does not
    /// match (or a repeated field has two different values).
    pub(crate) fn values(&self, location: &str) -> Option<Vec<String>> {
        let segs: Vec<&str> = location.split('/').collect();
        let tail = segs
            .get(segs.len().checked_sub(self.segments)?..)?
            .join("/");
        let caps = self.regex.captures(&tail)?;
        let mut values: Vec<Option<String>> = vec![None; self.fields.len()];
        for (g, field) in self.groups.iter().enumerate() {
            let v = caps.get(g + 1)?.as_str();
            match &values[*field] {
                Some(prev) if prev != v => return None,
                _ => values[*field] = Some(v.to_string()),
            }
        }
        values.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> PathPattern {
        match PathPattern::parse(s) {
            Ok(Some(p)) => p,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn globs() {
        assert_eq!(
            to_glob("csv/{region}/{year:4d}.csv"),
            Ok(Some("csv/*/*.csv".into()))
        );
        assert_eq!(to_glob("plain.csv"), Ok(None));
        assert_eq!(to_glob("a{{b}}.csv"), Ok(None));
        assert!(to_glob("a{b.csv").is_err());
        assert!(to_glob("a}b.csv").is_err());
    }

    #[test]
    fn reverse_format() {
        let p = pat("csv/pattern/{region}/{year}.csv");
        assert_eq!(p.fields(), ["region", "year"]);
        assert_eq!(
            p.values("work/fixtures/csv/pattern/eu/2020.csv"),
            Some(vec!["eu".into(), "2020".into()])
        );
        assert_eq!(p.values("eu/2020.parquet"), None);
        let p = pat("s3://b/x/{year:4d}{month:02d}_{}_{tag}.csv.gz");
        assert_eq!(
            p.values("x/202401_whatever_a.b.csv.gz"),
            Some(vec!["2024".into(), "01".into(), "a.b".into()])
        );
        let p = pat("{a}/*/{a}.csv");
        assert_eq!(p.values("/d/x/q/x.csv"), Some(vec!["x".into()]));
        assert_eq!(p.values("/d/x/q/y.csv"), None);
        assert_eq!(
            PathPattern::parse("no/fields.csv")
                .ok()
                .flatten()
                .map(|_| ()),
            None
        );
    }
}
