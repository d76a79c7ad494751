//! A YAML tree that remembers where every node came from.
//!
//! serde_yaml drops positions once a document is parsed, but every catalog diagnostic must name
//! file:line:col, so the tree is built from yaml-rust2's marked event stream instead. Scalars are
//! resolved the way PyYAML (and therefore Intake) resolves them: YAML 1.1 booleans (`yes`, `on`),
//! floats need a dot, quoted scalars are always strings.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in a source file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl Pos {
    fn from_marker(m: Marker) -> Pos {
        // yaml-rust2 lines are 1-based, columns 0-based.
        Pos {
            line: u32::try_from(m.line()).unwrap_or(u32::MAX),
            col: u32::try_from(m.col() + 1).unwrap_or(u32::MAX),
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// A mapping key: YAML allows any scalar, catalogs only use them as names, so keep the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub text: String,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The value under `key`, when this node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.text == key)
            .map(|(_, v)| v)
    }

    /// A short name for the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Plain JSON, for metadata and args that are passed on rather than interpreted.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.text.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

/// A problem found while parsing, before any catalog rule applies.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlProblem {
    pub pos: Pos,
    pub message: String,
}

/// Parses one document. Returns the root (None for an empty file) and every problem found:
/// duplicate keys are reported all at once; a syntax error stops the parse where it occurs.
pub fn parse(text: &str) -> (Option<Node>, Vec<YamlProblem>) {
    parse_with(text, None)
}

/// Like [`parse`], but each entry of a top-level `sources:` mapping is handed to `on_entry` as
/// soon as it is complete and replaced by a null in the tree, so a 100,000-entry catalog never
/// holds its whole YAML tree and its parsed model at once.
pub fn parse_streaming(
    text: &str,
    on_entry: &mut dyn FnMut(Key, Node),
) -> (Option<Node>, Vec<YamlProblem>) {
    parse_with(text, Some(on_entry))
}

fn parse_with(
    text: &str,
    sink: Option<&mut dyn FnMut(Key, Node)>,
) -> (Option<Node>, Vec<YamlProblem>) {
    let mut builder = Builder {
        sink,
        ..Builder::default()
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        builder.problems.push(YamlProblem {
            pos: Pos::from_marker(*e.marker()),
            message: format!("YAML syntax error: {}", e.info()),
        });
        return (None, builder.problems);
    }
    (builder.root, builder.problems)
}

enum Frame {
    Seq(Pos, usize, Vec<Node>),
    /// Keys seen so far are indexed once a mapping grows, so duplicate checks stay linear.
    Map(
        Pos,
        usize,
        Vec<(Key, Node)>,
        Option<Key>,
        HashMap<String, Pos>,
    ),
}

#[derive(Default)]
struct Builder<'a> {
    sink: Option<&'a mut dyn FnMut(Key, Node)>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    problems: Vec<YamlProblem>,
}

impl Builder<'_> {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let streamed = self.sink.is_some()
            && self.stack.len() == 2
            && matches!(&self.stack[0], Frame::Map(_, _, _, Some(k), _) if k.text == "sources")
            && matches!(&self.stack[1], Frame::Map(_, _, _, Some(_), _));
        let mut node = node;
        if streamed {
            if let (Some(sink), Some(Frame::Map(_, _, _, Some(key), _))) =
                (self.sink.as_mut(), self.stack.last())
            {
                let pos = node.pos;
                sink(
                    key.clone(),
                    std::mem::replace(
                        &mut node,
                        Node {
                            pos,
                            value: Value::Null,
                        },
                    ),
                );
            }
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, pending, seen)) => match pending.take() {
                None => {
                    *pending = Some(Key {
                        text: scalar_text(&node),
                        pos: node.pos,
                    })
                }
                Some(key) => {
                    let first = if entries.len() < 16 {
                        entries
                            .iter()
                            .find(|(k, _)| k.text == key.text)
                            .map(|(k, _)| k.pos)
                    } else {
                        if seen.is_empty() {
                            seen.extend(entries.iter().map(|(k, _)| (k.text.clone(), k.pos)));
                        }
                        seen.get(&key.text).copied()
                    };
                    match first {
                        Some(first) => self.problems.push(YamlProblem {
                            pos: key.pos,
                            message: format!(
                                "duplicate key `{}` (first defined at line {}, column {}); \
                                 remove or rename one of them",
                                key.text, first.line, first.col
                            ),
                        }),
                        None if entries.len() >= 16 => {
                            seen.insert(key.text.clone(), key.pos);
                        }
                        None => {}
                    }
                    entries.push((key, node));
                }
            },
        }
    }
}

/// The text of a key node; non-scalar keys (never seen in catalogs) get a placeholder.
fn scalar_text(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Seq(_) | Value::Map(_) => "<complex key>".to_string(),
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| t.suffix);
                let value = resolve_scalar(text, style, tag.as_deref());
                self.push_node(Node { pos, value }, anchor);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(pos, anchor, vec![])),
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Frame::Map(pos, anchor, vec![], None, HashMap::new()))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(p, a, items)) => (
                        Node {
                            pos: p,
                            value: Value::Seq(items),
                        },
                        a,
                    ),
                    Some(Frame::Map(p, a, entries, _, _)) => (
                        Node {
                            pos: p,
                            value: Value::Map(entries),
                        },
                        a,
                    ),
                    None => return,
                };
                self.push_node(node, anchor);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => Node {
                        pos,
                        value: n.value.clone(),
                    },
                    None => {
                        self.problems.push(YamlProblem {
                            pos,
                            message: "alias refers to an unknown anchor".to_string(),
                        });
                        Node {
                            pos,
                            value: Value::Null,
                        }
                    }
                };
                self.push_node(node, 0);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::Str(text),
        Some("int") => {
            if let Ok(i) = text.trim().parse() {
                return Value::Int(i);
            }
        }
        Some("float") => {
            if let Ok(f) = text.trim().parse() {
                return Value::Float(f);
            }
        }
        _ => {}
    }
    if style != TScalarStyle::Plain {
        return Value::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
            return Value::Bool(true)
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            return Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(&text) {
        return Value::Int(i);
    }
    // PyYAML (YAML 1.1) only reads a float when there is a dot: `1e5` stays a string.
    if text.contains('.') && looks_numeric(&text) {
        if let Ok(f) = text.replace('_', "").parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

fn looks_numeric(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    body.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | 'e' | 'E' | '-' | '+'))
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let v = if let Some(hex) = body.strip_prefix("0x") {
        i64::from_str_radix(&hex.replace('_', ""), 16).ok()?
    } else if let Some(oct) = body.strip_prefix("0o") {
        i64::from_str_radix(&oct.replace('_', ""), 8).ok()?
    } else if body.bytes().all(|b| b.is_ascii_digit() || b == b'_') && !body.starts_with('_') {
        body.replace('_', "").parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let (node, problems) = parse(text);
        assert!(problems.is_empty(), "{problems:?}");
        node.expect("a document")
    }

    #[test]
    fn positions_are_one_based() {
        let n = root("a:\n  b: 1\n");
        let b = n.get("a").and_then(|a| a.get("b")).expect("a.b");
        assert_eq!(b.pos, Pos { line: 2, col: 6 });
        let key = &n.get("a").and_then(Node::as_map).expect("map")[0].0;
        assert_eq!(key.pos, Pos { line: 2, col: 3 });
    }

    #[test]
    fn scalars_resolve_like_pyyaml() {
        let n = root("a: yes\nb: '1'\nc: 1e5\nd: 1.5\ne: ~\nf: 0x10\ng: -3\nh: True\n");
        assert_eq!(n.get("a").map(|v| &v.value), Some(&Value::Bool(true)));
        assert_eq!(n.get("b").map(|v| &v.value), Some(&Value::Str("1".into())));
        assert_eq!(
            n.get("c").map(|v| &v.value),
            Some(&Value::Str("1e5".into()))
        );
        assert_eq!(n.get("d").map(|v| &v.value), Some(&Value::Float(1.5)));
        assert_eq!(n.get("e").map(|v| &v.value), Some(&Value::Null));
        assert_eq!(n.get("f").map(|v| &v.value), Some(&Value::Int(16)));
        assert_eq!(n.get("g").map(|v| &v.value), Some(&Value::Int(-3)));
        assert_eq!(n.get("h").map(|v| &v.value), Some(&Value::Bool(true)));
    }

    #[test]
    fn duplicate_keys_are_all_reported_with_both_positions() {
        let (_, problems) = parse("a: 1\nb: 2\na: 3\nm:\n  x: 1\n  x: 2\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].pos, Pos { line: 3, col: 1 });
        assert!(problems[0]
            .message
            .contains("first defined at line 1, column 1"));
        assert_eq!(problems[1].pos, Pos { line: 6, col: 3 });
    }

    #[test]
    fn python_tuple_tag_reads_as_list_and_crlf_is_fine() {
        let n = root("a: !!python/tuple [1, 2]\r\nb: x\r\n");
        assert!(matches!(n.get("a").map(|v| &v.value), Some(Value::Seq(s)) if s.len() == 2));
        assert_eq!(n.get("b").and_then(Node::as_str), Some("x"));
    }

    #[test]
    fn syntax_error_has_a_position() {
        let (node, problems) = parse("a: [1, 2\nb: 3\n");
        assert!(node.is_none());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].pos.line >= 1 && problems[0].pos.col >= 1);
        assert!(problems[0].message.starts_with("YAML syntax error"));
    }

    #[test]
    fn streaming_hands_over_source_entries_and_still_checks_duplicates() {
        let mut seen = vec![];
        let text =
            "metadata: {a: 1}\nsources:\n  x: {driver: csv}\n  y: null\n  x: {driver: csv}\n";
        let (root, problems) = parse_streaming(text, &mut |k, n| seen.push((k.text, n.pos.line)));
        assert_eq!(
            seen,
            [
                ("x".to_string(), 3),
                ("y".to_string(), 4),
                ("x".to_string(), 5)
            ]
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        let root = root.expect("root");
        assert!(root
            .get("sources")
            .and_then(|s| s.get("x"))
            .is_some_and(Node::is_null));
        assert!(root.get("metadata").and_then(|m| m.get("a")).is_some());
    }

    #[test]
    fn aliases_copy_the_anchored_value() {
        let n = root("a: &x {k: 1}\nb: *x\n");
        assert_eq!(
            n.get("b").and_then(|b| b.get("k")).map(|v| &v.value),
            Some(&Value::Int(1))
        );
    }
}
