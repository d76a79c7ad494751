//! Catalog file -> [`CatalogFile`]: Intake v1, the hierarchical dialect, and Intake 2 listings.
//! Every problem is collected with its position; nothing stops at the first.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value as J};

use super::diag::{suggest, Diagnostics};
use super::model::{CatalogFile, Entry, Status};
use super::params::parse_specs;
use super::template::{InspectMemo, Templater};
use super::yaml::{self, Key, Node, Pos, Value};
use crate::registry::{self, Resolved};
use inlet_driver::Registry;

const TOP_KEYS: &[&str] = &[
    "sources",
    "metadata",
    "name",
    "description",
    "plugins",
    "version",
];
const ENTRY_KEYS: &[&str] = &[
    "driver",
    "description",
    "args",
    "metadata",
    "parameters",
    "direct_access",
    "cache",
];

/// Above this size, YAML parsing and entry conversion run on two threads (a pipeline), or the
/// `sources:` block is cut into pieces parsed on every core (see [`super::split`]).
const PIPELINE_BYTES: usize = 1 << 20;

fn empty_catalog(path: &Path) -> CatalogFile {
    CatalogFile {
        path: path.to_path_buf(),
        dir: Arc::from(path.parent().unwrap_or(Path::new("."))),
        name: None,
        description: None,
        metadata: J::Object(Map::new()),
        parameters: vec![],
        entries: vec![],
        version: 1,
        diagnostics: vec![],
        by_name: Default::default(),
        name_order: Default::default(),
    }
}

/// Parses the YAML, converting each `sources:` entry as soon as the parser completes it.
fn parse_entries(
    path: &Path,
    text: &str,
    templater: &Templater,
    drivers: &Registry,
    d: &mut Diagnostics,
) -> (Option<Node>, Vec<yaml::YamlProblem>, Vec<Entry>) {
    let mut scratch = empty_catalog(path);
    if text.len() < PIPELINE_BYTES {
        let mut entries = vec![];
        let mut p = FileParser::new(&mut scratch, d, templater, drivers);
        let (root, problems) =
            yaml::parse_streaming(text, &mut |key, node| entries.extend(p.entry(&key, node)));
        return (root, problems, entries);
    }
    if let Some(parsed) = parse_in_pieces(path, text, templater, drivers, d) {
        return parsed;
    }
    parse_pipelined(path, text, templater, drivers, d)
}

/// YAML parsing on this thread, entry conversion on another.
fn parse_pipelined(
    path: &Path,
    text: &str,
    templater: &Templater,
    drivers: &Registry,
    d: &mut Diagnostics,
) -> (Option<Node>, Vec<yaml::YamlProblem>, Vec<Entry>) {
    let mut scratch = empty_catalog(path);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Key, Node)>(4096);
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let mut wd = Diagnostics::new(path);
            let mut p = FileParser::new(&mut scratch, &mut wd, templater, drivers);
            let entries: Vec<Entry> = rx.iter().filter_map(|(k, n)| p.entry(&k, n)).collect();
            (entries, wd)
        });
        let (root, problems) = yaml::parse_streaming(text, &mut |key, node| {
            // The receiver only stops when this function returns: a send cannot fail earlier.
            let _ = tx.send((key, node));
        });
        drop(tx);
        let (entries, wd) = worker
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        d.absorb(wd);
        (root, problems, entries)
    })
}

/// What one piece of a split `sources:` block parsed to: the position of its mapping, its
/// entry names, its entries, and its diagnostics; None when the piece does not stand alone.
type Piece = Option<(Pos, Vec<String>, Vec<Entry>, Diagnostics)>;

/// `capacity`: the entries to make room for (the first piece makes room for all of them, so
/// the others are appended to it without moving it).
fn parse_piece(
    path: &Path,
    run: &super::split::Run<'_>,
    capacity: usize,
    templater: &Templater,
    drivers: &Registry,
) -> Piece {
    let mut scratch = empty_catalog(path);
    let mut d = Diagnostics::new(path);
    let mut p = FileParser::new(&mut scratch, &mut d, templater, drivers);
    let mut keys = Vec::with_capacity(run.entries);
    let mut entries = Vec::with_capacity(capacity.max(run.entries));
    let (root, problems) = yaml::parse_entries_at(
        run.text,
        run.first_line.saturating_sub(1),
        &mut |key, node| {
            entries.extend(p.entry(&key, node));
            keys.push(key.text);
        },
    );
    // The piece stands alone when it parsed to one mapping, without a problem.
    let root = root?;
    (problems.is_empty() && root.as_map().is_some()).then_some((root.pos, keys, entries, d))
}

/// The pieces of a large plain catalog parsed on every core, or None (then the one-pass parse
/// runs) when the file is not of that layout or a piece does not stand alone.
fn parse_in_pieces(
    path: &Path,
    text: &str,
    templater: &Templater,
    drivers: &Registry,
    d: &mut Diagnostics,
) -> Option<(Option<Node>, Vec<yaml::YamlProblem>, Vec<Entry>)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let split = super::split::split_sources(text, threads, 1000)?;
    let (root, problems) = yaml::parse(&split.rest);
    let mut root = root?;
    let plain = problems.is_empty()
        && root.get("version").is_none()
        && root.get("sources").is_some_and(Node::is_null)
        && root
            .get("metadata")
            .and_then(|m| m.get("hierarchical_catalog"))
            .is_none();
    if !plain {
        return None;
    }
    let total = split.pieces.iter().map(|r| r.entries).sum();
    let pieces: Vec<Piece> = std::thread::scope(|scope| {
        let running: Vec<_> = split
            .pieces
            .iter()
            .enumerate()
            .map(|(k, run)| {
                let capacity = if k == 0 { total } else { run.entries };
                scope.spawn(move || parse_piece(path, run, capacity, templater, drivers))
            })
            .collect();
        running
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let pieces: Vec<_> = pieces.into_iter().collect::<Option<_>>()?;
    // A name repeated across pieces: the one-pass parse reports it with both positions (a
    // piece with a repeated name of its own did not stand alone).
    let mut names = std::collections::HashSet::with_capacity(total);
    let unique = pieces
        .iter()
        .flat_map(|(_, k, _, _)| k)
        .all(|name| names.insert(name.as_str()));
    if !unique {
        return None;
    }
    drop(names);
    let mut pieces = pieces.into_iter();
    let (map_pos, _, mut entries, wd) = pieces.next()?;
    d.absorb(wd);
    for (_, _, e, wd) in pieces {
        entries.extend(e);
        d.absorb(wd);
    }
    let Value::Map(top) = &mut root.value else {
        return None;
    };
    for (k, v) in top.iter_mut() {
        if k.text == "sources" {
            // The entries are parsed already: what is left to check is that `sources:` is a
            // mapping (left empty, as the one-pass parse leaves it).
            *v = Node {
                pos: map_pos,
                value: Value::Map(vec![]),
            };
            break;
        }
    }
    Some((Some(root), vec![], entries))
}

/// Parses one catalog file's text. `path` is used for diagnostics and `CATALOG_DIR`; `drivers`
/// tells which `driver:` spellings this server reads.
pub fn parse_catalog(
    path: &Path,
    text: &str,
    templater: &Templater,
    drivers: &Registry,
) -> CatalogFile {
    let mut d = Diagnostics::new(path);
    let mut cat = empty_catalog(path);
    let (root, problems, streamed) = parse_entries(path, text, templater, drivers, &mut d);
    for p in problems {
        d.error(p.pos, p.message);
    }
    match root {
        None if !d.has_errors() => d.error(
            Pos { line: 1, col: 1 },
            "the file is empty: a catalog needs a `sources:` mapping",
        ),
        None => {}
        Some(root) => match root.as_map() {
            None => d.error(
                root.pos,
                format!(
                    "a catalog must be a mapping with `sources:`, not {}",
                    root.kind()
                ),
            ),
            Some(_) => {
                let mut p = FileParser::new(&mut cat, &mut d, templater, drivers);
                p.top(&root, streamed);
                warn_implicit(&cat.entries, &cat.parameters, &mut d);
            }
        },
    }
    cat.diagnostics = d.into_vec();
    cat
}

/// Real catalogs use names they never declare, expecting callers to pass them (Intake puts call
/// kwargs into templates). Such a name becomes a required `str` parameter; say so once per use.
fn warn_implicit(
    entries: &[Entry],
    catalog_params: &[super::params::ParamSpec],
    d: &mut Diagnostics,
) {
    for e in entries {
        for (var, pos) in &e.template_vars {
            let declared = |ps: &[super::params::ParamSpec]| ps.iter().any(|p| &p.name == var);
            if !declared(&e.parameters) && !declared(catalog_params) {
                d.warn(*pos, format!(
                    "`{var}` is used in the args of `{}` but not declared: it becomes a required `str` \
                     parameter; declare it under `parameters:` (or have a parent catalog pass it)",
                    e.name
                ));
            }
        }
        if let Some(inline) = &e.inline {
            warn_implicit(&inline.entries, catalog_params, d);
        }
    }
}

struct FileParser<'a> {
    cat: &'a mut CatalogFile,
    d: &'a mut Diagnostics,
    templater: &'a Templater,
    drivers: &'a Registry,
    /// Template checks seen by this parser, before the templater's shared memo: a parser runs
    /// on one thread, and a lock taken per entry by every thread costs more than the check.
    memo: InspectMemo,
}

impl<'a> FileParser<'a> {
    fn new(
        cat: &'a mut CatalogFile,
        d: &'a mut Diagnostics,
        templater: &'a Templater,
        drivers: &'a Registry,
    ) -> Self {
        FileParser {
            cat,
            d,
            templater,
            drivers,
            memo: InspectMemo::default(),
        }
    }
}

fn text_of(node: &Node) -> String {
    match node.as_str() {
        Some(s) => s.to_string(),
        None => node.to_json().to_string(),
    }
}

impl FileParser<'_> {
    /// `entries`: the `sources:` entries, already parsed while the YAML was read.
    fn top(&mut self, root: &Node, entries: Vec<Entry>) {
        if let Some(n) = root.get("name") {
            self.cat.name = Some(text_of(n));
        }
        if let Some(n) = root.get("description") {
            self.cat.description = Some(text_of(n));
        }
        if let Some(meta) = root.get("metadata") {
            self.cat.metadata = meta.to_json();
            if let Some(params) = meta.get("parameters") {
                self.cat.parameters = parse_specs(params, self.d);
            }
        }
        let version = root.get("version").map(|v| &v.value);
        if version == Some(&Value::Int(2)) || version == Some(&Value::Str("2".into())) {
            self.cat.version = 2;
            return self.intake2(root);
        }
        let hierarchical = root
            .get("metadata")
            .and_then(|m| m.get("hierarchical_catalog"))
            .is_some_and(|v| v.value == Value::Bool(true));
        if hierarchical && root.get("sources").is_none() {
            let groups = root.as_map().unwrap_or_default();
            let groups: Vec<&(Key, Node)> = groups
                .iter()
                .filter(|(k, _)| !TOP_KEYS.contains(&k.text.as_str()))
                .collect();
            self.cat.entries = groups
                .iter()
                .filter_map(|(k, n)| self.group(k, n))
                .collect();
            return;
        }
        for (k, _) in root.as_map().unwrap_or_default() {
            if k.text == "plugins" {
                self.d.warn(
                    k.pos,
                    "`plugins` is ignored: Inlet's drivers are built in, no modules are imported",
                );
            } else if !TOP_KEYS.contains(&k.text.as_str()) {
                self.unknown_key(k, TOP_KEYS, "at the top level");
            }
        }
        match root.get("sources") {
            None => self.d.error(root.pos, "missing `sources:`: a catalog lists its entries under a top-level `sources:` mapping"),
            Some(s) => match &s.value {
                Value::Map(_) => self.cat.entries = entries,
                Value::Seq(_) => self.d.error(
                    s.pos,
                    "`sources` is a list, the obsolete Intake form: write a mapping of entry name to \
                     entry instead, e.g. `sources:\\n  a:\\n    driver: csv` rather than `- name: a`",
                ),
                Value::Null => {}
                _ => self.d.error(s.pos, format!("`sources` must be a mapping of entry name to entry, not {}", s.kind())),
            },
        }
    }

    fn unknown_key(&mut self, k: &Key, known: &[&str], place: &str) {
        let hint = suggest(&k.text, known)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        self.d.warn(
            k.pos,
            format!("unknown key `{}` {place} is ignored{hint}", k.text),
        );
    }

    fn check_name(&mut self, k: &Key) -> bool {
        if k.text.contains('/') {
            self.d.error(k.pos, format!("entry name `{}` contains `/`, which cannot be addressed in a URL; rename it (e.g. with `_`)", k.text));
            return false;
        }
        if k.text.contains('.') {
            self.d.warn(k.pos, format!(
                "entry name `{}` contains `.`, which also separates nested catalogs in dotted names; \
                 it is reachable, but consider renaming it with `_`",
                k.text
            ));
        }
        true
    }

    /// An entry from its YAML, which it consumes: args and metadata keep its strings.
    fn entry(&mut self, key: &Key, node: Node) -> Option<Entry> {
        if !self.check_name(key) {
            return None;
        }
        let Some(fields) = node.as_map() else {
            let hint = if node.is_null() {
                ": check the indentation of its `driver:` and `args:` (they belong one level deeper)"
            } else {
                ""
            };
            self.d.error(
                node.pos.max(key.pos),
                format!(
                    "entry `{}` must be a mapping with `driver:`, not {}{hint}",
                    key.text,
                    node.kind()
                ),
            );
            return None;
        };
        for (k, _) in fields {
            match k.text.as_str() {
                "cache" => self.d.warn(
                    k.pos,
                    "`cache` is ignored: Inlet streams from the source and caches discovery itself",
                ),
                t if ENTRY_KEYS.contains(&t) => {}
                _ => self.unknown_key(k, ENTRY_KEYS, &format!("in entry `{}`", key.text)),
            }
        }
        let args_is_map = match node.get("args") {
            Some(a) if a.as_map().is_some() => true,
            Some(a) if !a.is_null() => {
                self.d.error(
                    a.pos,
                    format!(
                        "`args` of entry `{}` must be a mapping, not {}",
                        key.text,
                        a.kind()
                    ),
                );
                false
            }
            _ => false,
        };
        let (driver_written, driver, resolved, driver_args) = match node.get("driver") {
            None => {
                self.d.error(
                    key.pos,
                    format!(
                        "entry `{}` has no `driver`: add e.g. `driver: parquet`",
                        key.text
                    ),
                );
                return None;
            }
            Some(dn) => self.driver(dn)?,
        };
        let mut template_vars = vec![];
        if let Some(a) = node.get("args") {
            self.scan_templates(a, &mut template_vars);
        }
        let direct_access = node.get("direct_access").map(|n| {
            let v = text_of(n);
            if !matches!(v.as_str(), "forbid" | "allow" | "force") {
                self.d.warn(
                    n.pos,
                    format!("`direct_access: {v}` is not one of forbid, allow, force"),
                );
            }
            v
        });
        let status = match resolved {
            Some(_) => Status::Ok,
            None => Status::UnsupportedDriver(driver.clone()),
        };
        let description = node.get("description").map(text_of);
        let parameters = node
            .get("parameters")
            .map(|p| parse_specs(p, self.d))
            .unwrap_or_default();
        // What is left is moved, not copied (the first of a repeated key, as `get` finds it).
        let (mut args_node, mut metadata_node) = (None, None);
        if let Value::Map(fields) = node.value {
            for (k, v) in fields {
                match k.text.as_str() {
                    "args" if args_node.is_none() => args_node = Some(v),
                    "metadata" if metadata_node.is_none() => metadata_node = Some(v),
                    _ => {}
                }
            }
        }
        let mut args = match args_node {
            Some(a) if args_is_map => a.into_json(),
            _ => J::Object(Map::new()),
        };
        if let (J::Object(extra), J::Object(a)) = (driver_args, &mut args) {
            a.extend(extra);
        }
        Some(Entry {
            name: key.text.clone(),
            pos: key.pos,
            dir: self.cat.dir.clone(),
            description,
            driver_written,
            driver,
            resolved,
            args,
            metadata: metadata_node.map_or(J::Object(Map::new()), Node::into_json),
            parameters,
            template_vars,
            direct_access,
            status,
            inline: None,
        })
    }

    /// Driver as a string, a list of candidates, or `{name: {class, args}}`: the first candidate
    /// that resolves wins, as in Intake.
    fn driver(&mut self, dn: &Node) -> Option<(J, String, Option<Resolved>, J)> {
        let mut candidates: Vec<(String, J)> = vec![];
        match &dn.value {
            Value::Str(s) => candidates.push((s.clone(), J::Null)),
            Value::Seq(items) => {
                for i in items {
                    match i.as_str() {
                        Some(s) => candidates.push((s.to_string(), J::Null)),
                        None => self.d.error(
                            i.pos,
                            format!("a driver list holds driver names, not {}", i.kind()),
                        ),
                    }
                }
            }
            Value::Map(items) => {
                for (k, spec) in items {
                    match spec.get("class").and_then(Node::as_str) {
                        Some(c) => candidates.push((
                            c.to_string(),
                            spec.get("args").map_or(J::Null, Node::to_json),
                        )),
                        None => self.d.error(
                            k.pos,
                            format!("driver `{}` needs a `class:` naming the driver", k.text),
                        ),
                    }
                }
            }
            _ => {}
        }
        if candidates.is_empty() {
            self.d.error(
                dn.pos,
                format!(
                    "`driver` must name a driver (a string, a list or a mapping), not {}",
                    dn.kind()
                ),
            );
            return None;
        }
        // The first candidate that resolves, else the first (reported as unsupported).
        let (chosen, resolved) = candidates
            .iter()
            .enumerate()
            .find_map(|(i, (c, _))| registry::resolve(c, self.drivers).map(|r| (i, Some(r))))
            .unwrap_or((0, None));
        let (name, args) = candidates.swap_remove(chosen);
        Some((dn.to_json(), name, resolved, args))
    }

    /// Checks every templated string of `args` and records the names they read.
    fn scan_templates(&mut self, node: &Node, vars: &mut Vec<(String, Pos)>) {
        match &node.value {
            Value::Str(s) if super::template::is_template(s) => {
                let before = vars.len();
                let found = self.templater.inspect_names(s, &mut self.memo, &mut |n| {
                    if !vars.iter().any(|(v, _)| v == n) {
                        vars.push((n.to_string(), node.pos));
                    }
                });
                // A string's new names in name order, as they always were listed.
                vars[before..].sort_unstable_by(|a, b| a.0.cmp(&b.0));
                if let Err(e) = found {
                    self.d.error(node.pos, e);
                }
            }
            // Loops, not closures: one stack frame per nesting level, even in debug builds.
            Value::Seq(items) => {
                for item in items {
                    self.scan_templates(item, vars);
                }
            }
            Value::Map(items) => {
                for (_, v) in items {
                    self.scan_templates(v, vars);
                }
            }
            _ => {}
        }
    }

    /// A group of the hierarchical dialect: a leaf when it has `driver`, else a nested catalog.
    fn group(&mut self, key: &Key, node: &Node) -> Option<Entry> {
        if node.get("driver").is_some() {
            return self.entry(key, node.clone());
        }
        let Some(items) = node.as_map() else {
            self.d.error(
                node.pos,
                format!(
                    "group `{}` must be a mapping of groups or entries, not {}",
                    key.text,
                    node.kind()
                ),
            );
            return None;
        };
        if !self.check_name(key) {
            return None;
        }
        let description = node.get("description").map(text_of);
        // A loop, not an iterator chain: groups nest as deep as the loader allows, and each
        // adapter would be another stack frame per level in debug builds.
        let mut children: Vec<Entry> = vec![];
        for (k, n) in items {
            if k.text != "description" && k.text != "metadata" {
                children.extend(self.group(k, n));
            }
        }
        let inline = CatalogFile {
            path: self.cat.path.clone(),
            dir: self.cat.dir.clone(),
            name: Some(key.text.clone()),
            description: description.clone(),
            metadata: node
                .get("metadata")
                .map_or(J::Object(Map::new()), Node::to_json),
            parameters: vec![],
            entries: children,
            version: 1,
            diagnostics: vec![],
            by_name: Default::default(),
            name_order: Default::default(),
        };
        Some(Entry {
            name: key.text.clone(),
            pos: key.pos,
            dir: self.cat.dir.clone(),
            description,
            driver_written: J::String("group".into()),
            driver: "group".into(),
            resolved: None,
            args: J::Object(Map::new()),
            metadata: inline.metadata.clone(),
            parameters: vec![],
            template_vars: vec![],
            direct_access: None,
            status: Status::Ok,
            inline: Some(Arc::new(inline)),
        })
    }

    /// Intake 2: entries are listed; a reader over a CSV/Parquet/Avro/Zarr datatype maps to our
    /// driver, anything that would import or unpickle code is refused.
    fn intake2(&mut self, root: &Node) {
        let data = root.get("data");
        let Some(entries) = root.get("entries").and_then(Node::as_map) else {
            if let Some(e) = root.get("entries").filter(|e| !e.is_null()) {
                self.d.error(
                    e.pos,
                    format!("`entries` must be a mapping, not {}", e.kind()),
                );
            }
            return;
        };
        for (key, node) in entries {
            if !self.check_name(key) {
                continue;
            }
            let reader = node.get("reader").map(text_of).unwrap_or_default();
            let refused = find_strings(node)
                .into_iter()
                .find_map(|s| refuse_intake2_code(s).err());
            let data_ref = node
                .get("kwargs")
                .and_then(|k| k.get("data"))
                .and_then(Node::as_str)
                .and_then(|s| s.strip_prefix("{data(")?.strip_suffix(")}"));
            let datum = data_ref.and_then(|id| data?.get(id));
            let mapped = datum.and_then(|dd| {
                let datatype = dd.get("datatype")?.as_str()?;
                let driver = self.drivers.resolve_intake2(datatype.rsplit(':').next()?)?;
                let kwargs = dd.get("kwargs");
                let mut args = Map::new();
                args.insert("urlpath".into(), kwargs?.get("url")?.to_json());
                if let Some(so) = kwargs.and_then(|k| k.get("storage_options")) {
                    args.insert("storage_options".into(), so.to_json());
                }
                Some((driver, J::Object(args), dd))
            });
            let (driver, args, status, description) = match (refused, mapped) {
                (Some(why), _) => (
                    reader.clone(),
                    J::Object(Map::new()),
                    Status::Unsupported(why),
                    None,
                ),
                (None, Some((drv, args, dd))) => (
                    drv.to_string(),
                    args,
                    Status::Ok,
                    dd.get("metadata")
                        .and_then(|m| m.get("description"))
                        .map(text_of),
                ),
                (None, None) => (
                    reader.clone(),
                    J::Object(Map::new()),
                    Status::Unsupported(format!(
                        "Intake 2 reader `{reader}` has no Inlet equivalent"
                    )),
                    None,
                ),
            };
            let resolved = if status.is_ok() {
                registry::resolve(&driver, self.drivers)
            } else {
                None
            };
            self.cat.entries.push(Entry {
                name: key.text.clone(),
                pos: key.pos,
                dir: self.cat.dir.clone(),
                description,
                driver_written: J::String(reader),
                driver,
                resolved,
                args,
                metadata: node
                    .get("metadata")
                    .map_or(J::Object(Map::new()), Node::to_json),
                parameters: vec![],
                template_vars: vec![],
                direct_access: None,
                status,
                inline: None,
            });
        }
    }
}

/// Every string inside `node`, at any depth.
fn find_strings(node: &Node) -> Vec<&str> {
    let mut out = vec![];
    push_strings(node, &mut out);
    out
}

fn push_strings<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
    match &node.value {
        Value::Str(s) => out.push(s),
        Value::Seq(items) => {
            for item in items {
                push_strings(item, out);
            }
        }
        Value::Map(items) => {
            for (_, v) in items {
                push_strings(v, out);
            }
        }
        _ => {}
    }
}

/// Intake 2's `{func(...)}`, `{import(...)}` and `{pickle64(...)}` would run arbitrary code.
fn refuse_intake2_code(s: &str) -> Result<(), String> {
    for marker in ["{func(", "{import(", "{pickle64("] {
        if s.contains(marker) {
            let what = marker.trim_start_matches('{').trim_end_matches('(');
            return Err(format!(
                "`{{{what}(...)}}` is refused: Inlet never imports or unpickles code named in a catalog"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large catalog with warnings, errors, comments, block scalars and anchors inside entries.
    fn big_catalog(n: usize) -> String {
        let mut s = String::from(
            "name: big\ndescription: |\n  many\n  entries\nmetadata:\n  parameters:\n    \
             region: {type: str, default: eu}\nsources:\n  # comment\n",
        );
        for i in 0..n {
            match i % 7 {
                0 => s.push_str(&format!("  e{i}:\n    driver: csv\n    colour: red\n    args: {{urlpath: 'f{i}.csv'}}\n")),
                1 => s.push_str(&format!("  bad/{i}:\n    driver: csv\n")),
                2 => s.push_str(&format!(
                    "  e{i}:\n    description: |\n      line one\n\n      line two\n    driver: parquet\n    \
                     args:\n      urlpath: &u{i} \"s3://b/{{{{ region }}}}/{i}.parquet\"\n      \
                     storage_options: {{anon: true}}\n    metadata: {{again: *u{i}}}\n"
                )),
                3 => s.push_str(&format!("  e{i}: 3\n")),
                _ => s.push_str(&format!(
                    "  e{i}:\n    driver: intake_xarray.netcdf.NetCDFSource\n    args:\n      urlpath: 'x{i}.nc'\n# between\n\n"
                )),
            }
        }
        s
    }

    fn parse_both(text: &str) -> (String, String) {
        let path = Path::new("/cat/big.yaml");
        let templater = Templater::default();
        let drivers = crate::service::builtin_drivers();
        let mut d1 = Diagnostics::new(path);
        let (root1, problems1, entries1) =
            parse_in_pieces(path, text, &templater, &drivers, &mut d1).expect("split");
        let mut d2 = Diagnostics::new(path);
        let (root2, problems2, entries2) =
            parse_pipelined(path, text, &templater, &drivers, &mut d2);
        assert!(
            problems1.is_empty() && problems2.is_empty(),
            "{problems2:?}"
        );
        same(&format!("{root1:?}"), &format!("{root2:?}"));
        (
            format!("{entries1:?}{:?}", d1.into_vec()),
            format!("{entries2:?}{:?}", d2.into_vec()),
        )
    }

    /// Equal texts, or a panic showing where they part.
    fn same(a: &str, b: &str) {
        if let Some(at) = a.bytes().zip(b.bytes()).position(|(x, y)| x != y) {
            let from = at.saturating_sub(150);
            panic!(
                "differ at byte {at}:\n{}\n{}",
                &a[from..(at + 150).min(a.len())],
                &b[from..(at + 150).min(b.len())]
            );
        }
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn a_catalog_parsed_in_pieces_equals_the_one_pass_parse() {
        let text = big_catalog(7000);
        let (pieces, one_pass) = parse_both(&text);
        assert!(one_pass.contains("bad/1") && one_pass.contains("colour"));
        same(&pieces, &one_pass);
    }

    #[test]
    fn pieces_that_do_not_stand_alone_fall_back_to_the_one_pass_parse() {
        let path = Path::new("/cat/big.yaml");
        let templater = Templater::default();
        let drivers = crate::service::builtin_drivers();
        let mut d = Diagnostics::new(path);
        // An anchor in the first entry aliased from the last one.
        let text = big_catalog(7000)
            .replace("  e0:\n    driver: csv\n", "  e0:\n    driver: &d csv\n")
            + "  last:\n    driver: *d\n";
        assert!(parse_in_pieces(path, &text, &templater, &drivers, &mut d).is_none());
        // A name repeated in two pieces.
        let text = big_catalog(7000) + "  e0:\n    driver: csv\n";
        assert!(parse_in_pieces(path, &text, &templater, &drivers, &mut d).is_none());
        let cat = parse_catalog(path, &text, &templater, &drivers);
        assert!(
            cat.diagnostics
                .iter()
                .any(|x| x.message.contains("e0") && x.message.contains("duplicate")),
            "{:?}",
            cat.diagnostics
                .iter()
                .filter(|x| x.message.contains("e0"))
                .collect::<Vec<_>>()
        );
    }
}
