//! A YAML tree that remembers where every node came from.
//!
//! serde_yaml drops positions once a document is parsed, but every catalog diagnostic must name
//! file:line:col, so the tree is built from yaml-rust2's marked event stream instead. Scalars are
//! resolved the way PyYAML (and therefore Intake) resolves them: YAML 1.1 booleans (`yes`, `on`),
//! floats need a dot, quoted scalars are always strings.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use yaml_rust2::parser::{Event, Parser};
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
        self.clone().into_json()
    }

    /// [`Node::to_json`] that moves the strings instead of copying them.
    pub fn into_json(self) -> serde_json::Value {
        use serde_json::Value as J;
        match self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(b),
            Value::Int(i) => J::from(i),
            Value::Float(f) => serde_json::Number::from_f64(f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(f.to_string())),
            Value::Str(s) => J::String(s),
            // Loops, not iterator chains: fewer stack frames per level in debug builds.
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(item.into_json());
                }
                J::Array(out)
            }
            Value::Map(entries) => {
                // Sized exactly: a catalog of 100,000 entries holds several maps per entry.
                let mut out = serde_json::Map::with_capacity(entries.len());
                for (k, v) in entries {
                    out.insert(k.text, v.into_json());
                }
                J::Object(out)
            }
        }
    }
}

/// A problem found while parsing, before any catalog rule applies.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlProblem {
    pub pos: Pos,
    pub message: String,
}

/// The text of a catalog file. PyYAML (so Intake) reads UTF-8, with or without a byte order
/// mark, and UTF-16 in either byte order when the file starts with its byte order mark; so does
/// this. The mark is dropped, so positions count characters from the first one after it.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, YamlProblem> {
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest),
        [0xFF, 0xFE, rest @ ..] => decode_utf16(rest, u16::from_le_bytes).map(Cow::Owned),
        [0xFE, 0xFF, rest @ ..] => decode_utf16(rest, u16::from_be_bytes).map(Cow::Owned),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<Cow<'_, str>, YamlProblem> {
    std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
        // Everything before the bad byte is valid: that is where the position comes from.
        let good = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        YamlProblem {
            pos: end_of(&good),
            message: "the file is not valid UTF-8 (nor UTF-16 with a byte order mark): save it \
                      as UTF-8"
                .to_string(),
        }
    })
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, YamlProblem> {
    let bad = |out: &str, what: &str| YamlProblem {
        pos: end_of(out),
        message: format!(
            "the file starts with a UTF-16 byte order mark but {what}: save it as UTF-8"
        ),
    };
    let mut out = String::with_capacity(bytes.len() / 2);
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => out.push(c),
            Err(_) => return Err(bad(&out, "holds an unpaired surrogate")),
        }
    }
    if bytes.len() % 2 == 1 {
        return Err(bad(&out, "ends in the middle of a character"));
    }
    Ok(out)
}

/// The position just after `text`: where decoding stopped.
fn end_of(text: &str) -> Pos {
    let line = text.matches('\n').count() + 1;
    let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        col: u32::try_from(col).unwrap_or(u32::MAX),
    }
}

/// The deepest nesting of mappings and lists a catalog may use (the root mapping is level 1).
/// Real catalogs stay under 10 (the deepest in the Intake corpus is 8); every walk over catalog
/// values (JSON conversion, template scanning and rendering, redaction) recurses once per level,
/// so this bound is what keeps them within a small stack (tests run them on 256 KiB, with a
/// caller's 128-level JSON value below). Deeper documents are refused while they are read,
/// before the deep part is built.
pub const MAX_DEPTH: usize = 64;

/// Aliases copy the anchored value, so a few hundred bytes of nested aliases ("billion laughs")
/// can ask for billions of nodes. The copies a document may create are bounded, like hardened
/// YAML loaders do: at least this many nodes...
pub const ALIAS_NODES_MIN: usize = 100_000;
/// ...or one copied node per byte of the document, so a large catalog that reuses a few anchored
/// blocks on every entry still loads. A document has at most one node per two bytes, so the
/// copies can cost at most about twice what the document's own nodes may cost.
pub const ALIAS_NODES_PER_BYTE: usize = 1;

/// A scalar counts as one node per this many bytes of its text, so the budget bounds the bytes
/// aliases copy too: nine aliases of a 300 KB string, aliased again ten levels deep, are refused
/// like nine aliases of a small one.
pub const SCALAR_BYTES_PER_NODE: usize = 64;

/// How many nodes the aliases of a document of `len` bytes may create.
fn alias_budget(len: usize) -> usize {
    ALIAS_NODES_MIN.max(len.saturating_mul(ALIAS_NODES_PER_BYTE))
}

/// Parses one document. Returns the root (None for an empty file) and every problem found:
/// duplicate keys are reported all at once; a syntax error stops the parse where it occurs.
pub fn parse(text: &str) -> (Option<Node>, Vec<YamlProblem>) {
    parse_with(text, 0, None)
}

/// Like [`parse`], but each entry of a top-level `sources:` mapping is handed to `on_entry` as
/// soon as it is complete and left out of the tree (`sources:` stays an empty mapping), so a
/// 100,000-entry catalog never holds its whole YAML tree and its parsed model at once.
pub fn parse_streaming(
    text: &str,
    on_entry: &mut dyn FnMut(Key, Node),
) -> (Option<Node>, Vec<YamlProblem>) {
    parse_with(text, 0, Some((StreamAt::Sources, on_entry)))
}

/// Where complete entries go, and which.
type Sink<'a> = (StreamAt, &'a mut dyn FnMut(Key, Node));

/// Where [`parse_with`] hands complete entries to its sink.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamAt {
    /// The values of the top-level `sources:` mapping.
    Sources,
    /// The values of the root mapping: a run of entries cut out of a `sources:` block.
    Root,
}

/// Parses a run of `sources:` entries cut from a larger file (see [`super::split`]) as a
/// mapping of its own, handing each entry to `on_entry` like [`parse_streaming`]. The run's
/// first line is line `1 + line_offset` of the file: every position is reported in the file's
/// lines, and columns are the file's because the run keeps its indentation.
pub fn parse_entries_at(
    text: &str,
    line_offset: u32,
    on_entry: &mut dyn FnMut(Key, Node),
) -> (Option<Node>, Vec<YamlProblem>) {
    parse_with(text, line_offset, Some((StreamAt::Root, on_entry)))
}

fn parse_with(
    text: &str,
    line_offset: u32,
    sink: Option<Sink<'_>>,
) -> (Option<Node>, Vec<YamlProblem>) {
    // A byte order mark is not content (PyYAML skips it too); positions count from after it,
    // as editors show them.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut end = yaml_end(text);
    end.line = end.line.saturating_add(line_offset);
    let mut builder = Builder {
        sink,
        alias_limit: alias_budget(text.len()),
        end,
        line_offset,
        ..Builder::default()
    };
    // Events are pulled one at a time rather than through `Parser::load`, which recurses once
    // per nesting level (a deep document would overflow the stack before the builder could
    // refuse it) and cannot be stopped by the receiver.
    let mut parser = Parser::new_from_str(text);
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(next) => next,
            Err(e) => {
                builder.problems.push(YamlProblem {
                    pos: builder.pos(*e.marker()),
                    message: format!("YAML syntax error: {}", e.info()),
                });
                return (None, builder.problems);
            }
        };
        // Like `load(.., false)`: the first document only.
        let last = matches!(ev, Event::DocumentEnd | Event::StreamEnd);
        if let Err(fatal) = builder.on_event(ev, mark) {
            builder.problems.push(fatal);
            return (None, builder.problems);
        }
        if last {
            break;
        }
    }
    (builder.root, builder.problems)
}

/// The position just past the last character of `text`, counting line breaks as the YAML
/// scanner does (`\r\n`, `\r` and `\n`). Positions are kept at or before it: for some
/// documents that end without a line break, the scanner marks the last events (and errors)
/// one line below the last line.
fn yaml_end(text: &str) -> Pos {
    let bytes = text.as_bytes();
    // Every `\n`, and every `\r` not followed by one (a `\r\n` is one break).
    let lone_cr = memchr::memchr_iter(b'\r', bytes).filter(|&at| bytes.get(at + 1) != Some(&b'\n'));
    let breaks = bytes.iter().filter(|&&b| b == b'\n').count() + lone_cr.count();
    let last_line = memchr::memrchr2(b'\n', b'\r', bytes).map_or(text, |i| &text[i + 1..]);
    Pos {
        line: u32::try_from(breaks + 1).unwrap_or(u32::MAX),
        col: u32::try_from(last_line.chars().count() + 1).unwrap_or(u32::MAX),
    }
}

/// A mapping or list being built.
struct Frame {
    pos: Pos,
    anchor: usize,
    /// Nodes inside so far (at any depth), for the alias budget.
    nodes: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    /// Keys seen so far are indexed once a mapping grows, so duplicate checks stay linear.
    Map {
        entries: Vec<(Key, Node)>,
        pending: Option<Key>,
        seen: HashMap<String, Pos>,
    },
}

impl Frame {
    fn pending_key(&self) -> Option<&Key> {
        match &self.kind {
            FrameKind::Map { pending, .. } => pending.as_ref(),
            FrameKind::Seq(_) => None,
        }
    }
}

#[derive(Default)]
struct Builder<'a> {
    sink: Option<Sink<'a>>,
    stack: Vec<Frame>,
    /// Anchored values with their node counts.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    problems: Vec<YamlProblem>,
    /// Nodes the aliases may create in all, and have created so far.
    alias_limit: usize,
    alias_nodes: usize,
    /// The end of the text: no position is placed after it.
    end: Pos,
    /// Lines of the file before the text parsed (see [`parse_streaming_at`]).
    line_offset: u32,
}

impl Builder<'_> {
    /// Places a complete node (`nodes`: how many it holds, itself included) in its parent.
    fn push_node(&mut self, node: Node, anchor: usize, nodes: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), nodes));
        }
        let streamed = match self.sink.as_ref().map(|(at, _)| *at) {
            Some(StreamAt::Sources) => {
                self.stack.len() == 2
                    && self.stack[0]
                        .pending_key()
                        .is_some_and(|k| k.text == "sources")
                    && self.stack[1].pending_key().is_some()
            }
            Some(StreamAt::Root) => self.stack.len() == 1 && self.stack[0].pending_key().is_some(),
            None => false,
        };
        let mut node = node;
        if streamed {
            if let (Some((_, sink)), Some(key)) = (
                self.sink.as_mut(),
                self.stack.last().and_then(Frame::pending_key),
            ) {
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
        let Some(frame) = self.stack.last_mut() else {
            if self.root.is_none() {
                self.root = Some(node);
            }
            return;
        };
        frame.nodes = frame.nodes.saturating_add(nodes);
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map {
                entries,
                pending,
                seen,
            } => match pending.take() {
                None => {
                    let pos = node.pos;
                    *pending = Some(Key {
                        text: scalar_text(node),
                        pos,
                    })
                }
                // The sink has the entry: only its name is kept, for the duplicate check (the
                // mapping is left empty; nothing reads a streamed mapping but its kind).
                Some(key) if streamed => match seen.entry(key.text) {
                    Entry::Occupied(first) => {
                        self.problems
                            .push(duplicate(first.key(), *first.get(), key.pos))
                    }
                    Entry::Vacant(name) => {
                        name.insert(key.pos);
                    }
                },
                Some(key) => {
                    if let Some(problem) = check_duplicate(entries, seen, &key) {
                        self.problems.push(problem);
                    }
                    entries.push((key, node));
                }
            },
        }
    }

    /// Starts a mapping or list, unless that would nest deeper than [`MAX_DEPTH`].
    fn open(&mut self, pos: Pos, anchor: usize, kind: FrameKind) -> Result<(), YamlProblem> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlProblem {
                pos,
                message: format!(
                    "the document nests mappings and lists deeper than {MAX_DEPTH} levels; \
                     catalogs need far fewer: flatten this value (e.g. into a list of records \
                     or a string)"
                ),
            });
        }
        self.stack.push(Frame {
            pos,
            anchor,
            nodes: 0,
            kind,
        });
        Ok(())
    }

    /// A copy of the anchored value, charged to the alias budget; refused once the budget is
    /// spent, before anything is copied.
    fn alias(&mut self, id: usize, pos: Pos) -> Result<(Node, usize), YamlProblem> {
        let Some((anchored, nodes)) = self.anchors.get(&id) else {
            self.problems.push(YamlProblem {
                pos,
                message: "alias refers to an unknown anchor".to_string(),
            });
            return Ok((
                Node {
                    pos,
                    value: Value::Null,
                },
                1,
            ));
        };
        let total = self.alias_nodes.saturating_add(*nodes);
        if total > self.alias_limit {
            return Err(YamlProblem {
                pos,
                message: format!(
                    "aliases expand to too many values: with this one, the file's aliases would \
                     copy {total} nodes, over the limit of {} for this file (the larger of \
                     {ALIAS_NODES_MIN} and {ALIAS_NODES_PER_BYTE} per byte; a string counts one \
                     per {SCALAR_BYTES_PER_NODE} bytes); write the repeated \
                     values out or alias smaller blocks (aliases of aliases multiply)",
                    self.alias_limit
                ),
            });
        }
        self.alias_nodes = total;
        let nodes = *nodes;
        Ok((
            Node {
                pos,
                value: anchored.value.clone(),
            },
            nodes,
        ))
    }
}
/// A duplicate-key problem for `key`, when the mapping already has it. Small mappings are
/// searched; larger ones get an index, so checks stay linear.
fn check_duplicate(
    entries: &[(Key, Node)],
    seen: &mut HashMap<String, Pos>,
    key: &Key,
) -> Option<YamlProblem> {
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
        Some(first) => Some(duplicate(&key.text, first, key.pos)),
        None => {
            if entries.len() >= 16 {
                seen.insert(key.text.clone(), key.pos);
            }
            None
        }
    }
}

/// The problem of a key repeated at `again`, first defined at `first`.
fn duplicate(key: &str, first: Pos, again: Pos) -> YamlProblem {
    YamlProblem {
        pos: again,
        message: format!(
            "duplicate key `{key}` (first defined at line {}, column {}); remove or rename one \
             of them",
            first.line, first.col
        ),
    }
}

/// The text of a key node; non-scalar keys (never seen in catalogs) get a placeholder.
fn scalar_text(node: Node) -> String {
    match node.value {
        Value::Str(s) => s,
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Seq(_) | Value::Map(_) => "<complex key>".to_string(),
    }
}

impl Builder<'_> {
    /// The position of `mark` in the file.
    fn pos(&self, mark: Marker) -> Pos {
        let mut pos = Pos::from_marker(mark);
        pos.line = pos.line.saturating_add(self.line_offset);
        pos.min(self.end)
    }

    /// Takes one parser event; an `Err` is fatal and ends the parse.
    fn on_event(&mut self, ev: Event, mark: Marker) -> Result<(), YamlProblem> {
        let pos = self.pos(mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| t.suffix);
                let cost = 1 + text.len() / SCALAR_BYTES_PER_NODE;
                let value = resolve_scalar(text, style, tag.as_deref());
                self.push_node(Node { pos, value }, anchor, cost);
            }
            Event::SequenceStart(anchor, _) => self.open(pos, anchor, FrameKind::Seq(vec![]))?,
            Event::MappingStart(anchor, _) => self.open(
                pos,
                anchor,
                FrameKind::Map {
                    entries: vec![],
                    pending: None,
                    seen: HashMap::new(),
                },
            )?,
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let value = match frame.kind {
                    FrameKind::Seq(items) => Value::Seq(items),
                    FrameKind::Map { entries, .. } => Value::Map(entries),
                };
                let node = Node {
                    pos: frame.pos,
                    value,
                };
                self.push_node(node, frame.anchor, frame.nodes.saturating_add(1));
            }
            Event::Alias(id) => {
                let (node, nodes) = self.alias(id, pos)?;
                self.push_node(node, 0, nodes);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
        Ok(())
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
    // Most plain scalars of a catalog are names and paths: a letter that starts no null,
    // boolean or number cannot be anything but a string.
    if text
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() && !b"tTfFyYnNoO".contains(b))
    {
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
        let n = root("a: parquet\nb: Off\nc: NULL\nd: no\ne: z1.5\nf: on\ng: Nonsense\n");
        let value = |k: &str| n.get(k).map(|v| v.value.clone());
        assert_eq!(value("a"), Some(Value::Str("parquet".into())));
        assert_eq!(value("b"), Some(Value::Bool(false)));
        assert_eq!(value("c"), Some(Value::Null));
        assert_eq!(value("d"), Some(Value::Bool(false)));
        assert_eq!(value("e"), Some(Value::Str("z1.5".into())));
        assert_eq!(value("f"), Some(Value::Bool(true)));
        assert_eq!(value("g"), Some(Value::Str("Nonsense".into())));
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
        // The entries went to the sink: `sources` stays a mapping, empty.
        assert_eq!(
            root.get("sources").and_then(Node::as_map).map(<[_]>::len),
            Some(0)
        );
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

    /// The "billion laughs" document: 9 levels of 9 aliases each.
    fn alias_bomb() -> String {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in ('a'..='h').zip('b'..='i') {
            let row = vec![format!("*{prev}"); 9].join(", ");
            text.push_str(&format!("{name}: &{name} [{row}]\n"));
        }
        text
    }

    #[test]
    fn alias_bomb_is_refused_quickly_at_the_alias_over_the_budget() {
        let text = alias_bomb();
        assert!(text.len() < 500, "{}", text.len());
        let started = std::time::Instant::now();
        let (node, problems) = parse(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(node.is_none());
        assert_eq!(problems.len(), 1, "{problems:?}");
        // `e` copies 9 x 7,381 nodes in all; the first `*e` goes over 100,000.
        assert_eq!(problems[0].pos, Pos { line: 6, col: 8 });
        assert!(
            problems[0].message.contains("over the limit of 100000"),
            "{}",
            problems[0].message
        );
    }

    /// Found by the catalog fuzzer: the budget counted nodes only, so ten levels of nine
    /// aliases over one 290 KB string copied gigabytes (a node is cheap, that string is not).
    #[test]
    fn aliases_of_a_long_string_are_charged_by_its_length() {
        let mut text = format!("l0: &l0 [\"{}\"]\n", "%".repeat(290_000));
        for k in 1..=10 {
            let row = vec![format!("*l{}", k - 1); 9].join(", ");
            text.push_str(&format!("l{k}: &l{k} [{row}]\n"));
        }
        let started = std::time::Instant::now();
        let (node, problems) = parse(&text);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert!(node.is_none());
        assert_eq!(problems.len(), 1, "{problems:?}");
        // `l0` costs 4,533 nodes (1 + 290,000 / 64, and the list), `l1` nine of those; the limit
        // is the file's length, about 290,500: the seventh `*l1`, in `l2`'s row, goes over it.
        assert_eq!(
            problems[0].pos,
            Pos { line: 3, col: 40 },
            "{:?}",
            problems[0]
        );
        assert!(problems[0]
            .message
            .contains("a string counts one per 64 bytes"));
    }

    #[test]
    fn a_large_catalog_may_alias_a_block_on_every_entry() {
        let mut text = String::from("common: &c {urlpath: x.csv, storage_options: {anon: true}}\n");
        text.push_str("sources:\n");
        for i in 0..100_000 {
            text.push_str(&format!("  e{i}: {{driver: csv, args: *c}}\n"));
        }
        let mut entries = 0;
        let (root, problems) = parse_streaming(&text, &mut |_, n| {
            assert!(n
                .get("args")
                .and_then(|a| a.get("storage_options"))
                .is_some());
            entries += 1;
        });
        assert!(problems.is_empty(), "{:?}", &problems[..1]);
        assert!(root.is_some());
        assert_eq!(entries, 100_000);
    }

    fn nested_block(levels: usize) -> String {
        (0..levels)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect::<String>()
            + &format!("{}x: 1\n", " ".repeat(levels))
    }

    /// Runs `f` on a thread with a small stack, to show nothing recurses once per level.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .expect("thread")
            .join()
            .expect("no stack overflow")
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_with_a_position() {
        for levels in [1_500, 5_000] {
            let text = nested_block(levels);
            let (node, problems) = on_small_stack(move || parse(&text));
            assert!(node.is_none());
            assert_eq!(problems.len(), 1, "{problems:?}");
            // The 65th mapping is on line 65, after 64 spaces (yaml-rust2 marks a block mapping
            // at its first key's colon).
            assert_eq!(problems[0].pos, Pos { line: 65, col: 66 });
            assert!(problems[0].message.contains("deeper than 64 levels"));
        }
        let flow = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let (node, problems) = on_small_stack(move || parse(&flow));
        assert!(node.is_none());
        assert_eq!(problems[0].pos, Pos { line: 1, col: 65 });
        // Past 255 flow levels yaml-rust2's scanner stops first, with a syntax error.
        let flow = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
        let (node, problems) = on_small_stack(move || parse(&flow));
        assert!(node.is_none());
        assert_eq!(problems[0].pos.line, 1, "{problems:?}");
    }

    #[test]
    fn a_document_at_the_depth_limit_loads_and_converts_on_a_small_stack() {
        let depth = on_small_stack(|| {
            // MAX_DEPTH - 1 nested mappings, the innermost holding one more: 64 levels.
            let (node, problems) = parse(&nested_block(MAX_DEPTH - 1));
            assert!(problems.is_empty(), "{problems:?}");
            let mut json = node.expect("root").to_json();
            let mut depth = 0;
            while let Some(inner) = json.as_object_mut().and_then(|m| m.remove("a")) {
                json = inner;
                depth += 1;
            }
            depth
        });
        assert_eq!(depth, MAX_DEPTH - 1);
    }

    #[test]
    fn bom_and_utf16_are_decoded_with_the_same_positions() {
        let text = "a: 1\nb: é\na: 2\n";
        let utf8_bom = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        for bytes in [utf8_bom, le, be] {
            let decoded = decode(&bytes).expect("decodes");
            let (node, problems) = parse(&decoded);
            assert_eq!(
                node.and_then(|n| n.get("b").and_then(Node::as_str).map(str::to_string)),
                Some("é".to_string())
            );
            // The duplicate is where an editor shows it: the BOM takes no column.
            assert_eq!(problems[0].pos, Pos { line: 3, col: 1 }, "{problems:?}");
        }
        // A BOM left in text that was decoded elsewhere is skipped too.
        assert!(parse("\u{feff}a: 1\n").1.is_empty());
    }

    #[test]
    fn undecodable_bytes_are_refused_with_a_position() {
        let err = decode(b"a: 1\nb: \xff\n").expect_err("not UTF-8");
        assert_eq!(err.pos, Pos { line: 2, col: 4 });
        let err = decode(&[0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'b']).expect_err("bad UTF-16");
        assert_eq!(err.pos, Pos { line: 1, col: 2 });
        assert!(
            err.message.contains("unpaired surrogate"),
            "{}",
            err.message
        );
    }
}
