//! The catalog tree: root catalogs loaded from files and directories, nested catalogs opened
//! lazily by dotted name, and the rendering of a source's args with a caller's parameters.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as J};

use super::diag::{Diagnostic, Diagnostics};
use super::fs::{normalize, CatalogFs, Disk};
use super::model::{CatalogFile, Entry};
use super::params::{self, FieldError, ParamSpec};
use super::parse::parse_catalog;
use super::template::{EnvPolicy, Templater};
use super::walk::{inside, walk, Walk, WalkRules};
use super::yaml::{Node, Value};
use crate::registry::Resolved;
use inlet_driver::Registry;

/// The catalog layer's one error type; the CLI prints it, the HTTP layer maps it to statuses.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    #[error("no catalog or source named `{name}`{hint}")]
    NotFound { name: String, hint: String },
    #[error("invalid parameters: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Params(Vec<FieldError>),
    #[error("cannot render args: {0}")]
    Render(String),
    #[error("nested catalog `{name}` cannot be opened: {reason}")]
    Nested { name: String, reason: String },
}

/// A catalog placed in the tree under its dotted name.
#[derive(Debug)]
pub struct CatalogNode {
    pub name: String,
    pub file: Arc<CatalogFile>,
    /// Catalog-wide parameters handed down by the parent (Intake's `user_parameters`, and the
    /// parent's own catalog-wide parameters).
    pub inherited: Vec<ParamSpec>,
    /// Values the parent fixed for this catalog (Inlet's `parameters:` arg of a nested catalog).
    pub pinned: BTreeMap<String, J>,
    chain: Vec<PathBuf>,
    /// The catalog root this catalog was reached from (canonical): the directory given to the
    /// loader, or the directory of the file given. Nested catalogs must stay under it.
    root: Arc<Path>,
}

fn override_with(specs: &mut Vec<ParamSpec>, newer: &[ParamSpec]) {
    for n in newer {
        specs.retain(|s| s.name != n.name);
        specs.push(n.clone());
    }
}

impl CatalogNode {
    /// Catalog-wide parameters as this catalog sees them.
    pub fn catalog_params(&self) -> Vec<ParamSpec> {
        let mut specs = self.inherited.clone();
        override_with(&mut specs, &self.file.parameters);
        specs
    }

    /// The parameters a caller may set for `entry`: catalog-wide, then the entry's own, then
    /// implicit ones for undeclared template names; values the parent pinned are not settable.
    pub fn entry_params(&self, entry: &Entry) -> Vec<ParamSpec> {
        // The file's own catalog-wide parameters apply to every entry (as in Intake); those
        // handed down by a parent only where the entry uses them, so listings stay relevant.
        let mut specs: Vec<ParamSpec> = self
            .inherited
            .iter()
            .filter(|p| entry.template_vars.iter().any(|(v, _)| *v == p.name))
            .cloned()
            .collect();
        override_with(&mut specs, &self.file.parameters);
        override_with(&mut specs, &entry.parameters);
        for (name, pos) in &entry.template_vars {
            if !specs.iter().any(|s| &s.name == name) && !self.pinned.contains_key(name) {
                specs.push(ParamSpec::implicit(name, *pos));
            }
        }
        specs.retain(|s| !self.pinned.contains_key(&s.name));
        specs
    }
}

/// What a dotted name points at.
pub enum Found {
    Catalog(Arc<CatalogNode>),
    Source(Arc<CatalogNode>, usize),
}

/// All catalogs being served or inspected.
pub struct Library {
    roots: Vec<Arc<CatalogNode>>,
    templater: Templater,
    /// The drivers this server offers: they decide which `driver:` spellings resolve.
    drivers: Arc<Registry>,
    env: EnvPolicy,
    /// Where the catalog files are read from (the disk, or a git commit).
    fs: Arc<dyn CatalogFs>,
    /// Operator-allowed prefixes (canonical) where nested catalogs may also be read.
    allowed: Vec<PathBuf>,
    nested: Mutex<HashMap<String, Arc<CatalogNode>>>,
}

/// Every YAML file under `dir`, sorted, skipping hidden files and directories. Symlinks are
/// followed only while they stay under `dir`, and each directory is read once (see [`walk`]).
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    yaml_walk(&Disk, dir).files
}

/// [`yaml_files`], with the symlinks it skipped and why.
pub fn yaml_walk(fs: &dyn CatalogFs, dir: &Path) -> Walk {
    let Ok(root) = fs.canonicalize(dir) else {
        return Walk::default();
    };
    let is_yaml = |p: &Path| matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml"));
    walk(
        dir,
        &WalkRules {
            fs,
            roots: &[root],
            hidden: false,
            max_depth: None,
            keep: &is_yaml,
        },
    )
}

/// Parses many files on all cores, keeping their order.
pub(crate) fn load_files(
    fs: &dyn CatalogFs,
    files: &[(PathBuf, String)],
    templater: &Templater,
    drivers: &Registry,
) -> Vec<CatalogFile> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let chunk = files.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(p, _)| load_file_in(fs, p, templater, drivers))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Reads and parses one file; an unreadable file is a diagnostic like any other.
pub fn load_file(path: &Path, templater: &Templater, drivers: &Registry) -> CatalogFile {
    load_file_in(&Disk, path, templater, drivers)
}

/// [`load_file`] from `fs`.
pub fn load_file_in(
    fs: &dyn CatalogFs,
    path: &Path,
    templater: &Templater,
    drivers: &Registry,
) -> CatalogFile {
    let problem = match fs.read(path) {
        Ok(bytes) => match super::yaml::decode(&bytes) {
            Ok(text) => return parse_catalog(path, &text, templater, drivers),
            Err(p) => (p.pos, p.message),
        },
        Err(e) => (Default::default(), format!("cannot read the file: {e}")),
    };
    let mut cat = parse_catalog(path, "sources: {}", templater, drivers);
    let mut d = Diagnostics::new(path);
    d.error(problem.0, problem.1);
    cat.diagnostics = d.into_vec();
    cat
}

impl Library {
    /// Loads every root catalog under `paths` (files, or directories of YAML files), resolving
    /// `driver:` names through `drivers`. Files with errors are left out; all diagnostics
    /// (errors and warnings) are returned.
    pub fn open(
        paths: &[PathBuf],
        env: EnvPolicy,
        drivers: Arc<Registry>,
    ) -> (Library, Vec<Diagnostic>) {
        Library::open_in(Arc::new(Disk), paths, env, drivers)
    }

    /// [`Library::open`], reading the catalog files from `fs` (a git commit, say).
    pub fn open_in(
        fs: Arc<dyn CatalogFs>,
        paths: &[PathBuf],
        env: EnvPolicy,
        drivers: Arc<Registry>,
    ) -> (Library, Vec<Diagnostic>) {
        let templater = Templater::default();
        let mut roots: Vec<Arc<CatalogNode>> = vec![];
        let mut diags = vec![];
        let mut found: Vec<(PathBuf, String)> = vec![];
        let mut file_roots: Vec<Arc<Path>> = vec![];
        for given in paths {
            let base = fs
                .canonicalize(given)
                .or_else(|_| std::path::absolute(given))
                .unwrap_or_else(|_| given.clone());
            let base_is_dir = fs.is_dir(&base);
            let files: Vec<(PathBuf, String)> = if base_is_dir {
                let walked = yaml_walk(fs.as_ref(), &base);
                for (link, why) in walked.skipped {
                    let mut d = Diagnostics::new(&link);
                    d.warn(Default::default(), why);
                    diags.extend(d.into_vec());
                }
                walked
                    .files
                    .into_iter()
                    .map(|f| {
                        let rel = f.strip_prefix(&base).unwrap_or(&f).with_extension("");
                        let name = rel.to_string_lossy().replace(['/', '\\'], ".");
                        (f, name)
                    })
                    .collect()
            } else {
                let stem = base
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                vec![(base.clone(), stem)]
            };
            let root: Arc<Path> = if base_is_dir {
                Arc::from(base.as_path())
            } else {
                Arc::from(base.parent().unwrap_or(Path::new("/")))
            };
            file_roots.extend(files.iter().map(|_| root.clone()));
            found.extend(files);
        }
        let loaded = load_files(fs.as_ref(), &found, &templater, &drivers);
        for (((path, default_name), file), root) in found.iter().zip(loaded).zip(file_roots) {
            diags.extend(file.diagnostics.iter().cloned());
            if file.has_errors() {
                continue;
            }
            let name = file.name.clone().unwrap_or_else(|| default_name.clone());
            if let Some(other) = roots.iter().find(|r| r.name == name) {
                let mut d = Diagnostics::new(path);
                d.error(
                    Default::default(),
                    format!(
                        "catalog name `{name}` is already used by {}; set a different `name:` in one of them",
                        other.file.path.display()
                    ),
                );
                diags.extend(d.into_vec());
                continue;
            }
            roots.push(Arc::new(CatalogNode {
                name,
                chain: vec![fs.canonicalize(path).unwrap_or_else(|_| path.clone())],
                file: Arc::new(file),
                inherited: vec![],
                pinned: BTreeMap::new(),
                root,
            }));
        }
        roots.sort_by(|a, b| a.name.cmp(&b.name));
        let lib = Library {
            roots,
            templater,
            drivers,
            env,
            fs,
            allowed: vec![],
            nested: Mutex::new(HashMap::new()),
        };
        (lib, diags)
    }

    /// The drivers the catalogs were resolved against.
    pub fn drivers(&self) -> &Arc<Registry> {
        &self.drivers
    }

    /// Lets nested catalogs also be read under these prefixes (the operator's `--allow-path`,
    /// which data may be read from too). Without it, a nested catalog must lie under the root
    /// of the catalog that names it.
    pub fn with_allowed_paths(mut self, paths: &[PathBuf]) -> Self {
        self.allowed = paths
            .iter()
            .map(|p| p.canonicalize().unwrap_or_else(|_| p.clone()))
            .collect();
        if let Ok(mut cache) = self.nested.lock() {
            cache.clear();
        }
        self
    }

    pub fn roots(&self) -> &[Arc<CatalogNode>] {
        &self.roots
    }

    /// Resolves a dotted name (`catalog.entry`, `parent.child.entry`), opening nested catalogs
    /// on the way. Names with dots in them are matched longest first.
    pub fn find(&self, dotted: &str) -> Result<Found, CatalogError> {
        let not_found = |hint: String| CatalogError::NotFound {
            name: dotted.to_string(),
            hint,
        };
        let root = self
            .roots
            .iter()
            .filter(|r| names_or_contains(&r.name, dotted))
            .max_by_key(|r| r.name.len())
            .ok_or_else(|| {
                let names: Vec<&str> = self.roots.iter().map(|r| r.name.as_str()).collect();
                let first = dotted.split('.').next().unwrap_or(dotted);
                not_found(match super::diag::suggest(first, &names) {
                    Some(s) => format!("; did you mean the catalog `{s}`?"),
                    None => "; `inlet ls` lists the catalogs".to_string(),
                })
            })?;
        // Exactly one dot between names: `a..b` and `a.b.` name nothing.
        let after_dot = |tail: &str| -> Result<String, CatalogError> {
            match tail.strip_prefix('.') {
                None => Ok(tail.to_string()),
                Some("") => Err(not_found("; a name does not end with a dot".to_string())),
                Some(rest) => Ok(rest.to_string()),
            }
        };
        let mut node = root.clone();
        let mut rest = after_dot(&dotted[root.name.len()..])?;
        loop {
            if rest.is_empty() {
                return Ok(Found::Catalog(node));
            }
            let idx = node.file.entry_under(&rest).ok_or_else(|| {
                let names: Vec<&str> = node.file.entries.iter().map(|e| e.name.as_str()).collect();
                let first = rest.split('.').next().unwrap_or(&rest);
                not_found(match super::diag::suggest(first, &names) {
                    Some(s) => format!("; did you mean `{}.{s}`?", node.name),
                    None => format!("; `inlet ls {}` lists its entries", node.name),
                })
            })?;
            let entry = &node.file.entries[idx];
            let remaining = after_dot(&rest[entry.name.len()..])?;
            if !entry.is_catalog() {
                if remaining.is_empty() {
                    return Ok(Found::Source(node, idx));
                }
                return Err(not_found(format!(
                    "; `{}.{}` is a source, not a catalog",
                    node.name, entry.name
                )));
            }
            node = self.child(&node, idx)?;
            rest = remaining;
        }
    }

    /// Opens the nested catalog of entry `idx` of `parent` (cached after the first time).
    pub fn child(
        &self,
        parent: &Arc<CatalogNode>,
        idx: usize,
    ) -> Result<Arc<CatalogNode>, CatalogError> {
        let entry = &parent.file.entries[idx];
        let name = format!("{}.{}", parent.name, entry.name);
        if let Some(n) = self.nested.lock().ok().and_then(|m| m.get(&name).cloned()) {
            return Ok(n);
        }
        let fail = |reason: String| CatalogError::Nested {
            name: name.clone(),
            reason,
        };
        let node = if let Some(inline) = &entry.inline {
            CatalogNode {
                name: name.clone(),
                file: inline.clone(),
                inherited: parent.catalog_params(),
                pinned: parent.pinned.clone(),
                chain: parent.chain.clone(),
                root: parent.root.clone(),
            }
        } else {
            let (args, _) = self.render(parent, entry, &BTreeMap::new())?;
            let files = self
                .nested_files(&args, entry, &parent.root)
                .map_err(fail)?;
            let mut chain = parent.chain.clone();
            for f in &files {
                if let Some(at) = parent.chain.iter().position(|c| c == f) {
                    let cycle: Vec<String> = parent.chain[at..]
                        .iter()
                        .chain([f])
                        .map(|p| p.display().to_string())
                        .collect();
                    return Err(fail(format!("catalog cycle: {}", cycle.join(" -> "))));
                }
                chain.push(f.clone());
            }
            let file = self.merge_files(&files, entry).map_err(fail)?;
            let mut inherited = parent.catalog_params();
            if let Some(up) = args.get("user_parameters") {
                let node = Node::from_json(up, entry.pos);
                let mut d = Diagnostics::new(&parent.file.path);
                override_with(&mut inherited, &params::parse_specs(&node, &mut d));
                if d.has_errors() {
                    let msgs: Vec<String> =
                        d.into_vec().iter().map(|x| x.message.clone()).collect();
                    return Err(fail(format!("`user_parameters`: {}", msgs.join("; "))));
                }
            }
            let pinned = match args.get("parameters") {
                None | Some(J::Null) => BTreeMap::new(),
                Some(J::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                Some(_) => {
                    return Err(fail(
                        "`parameters` must map child parameter names to values".into(),
                    ))
                }
            };
            CatalogNode {
                name: name.clone(),
                file: Arc::new(file),
                inherited,
                pinned,
                chain,
                root: parent.root.clone(),
            }
        };
        let node = Arc::new(node);
        if let Ok(mut m) = self.nested.lock() {
            m.insert(name, node.clone());
        }
        Ok(node)
    }

    /// The local files a nested-catalog entry points at (`path`: a file, a glob or a list),
    /// each under `root` or an allowed prefix, symlinks followed.
    fn nested_files(&self, args: &J, entry: &Entry, root: &Path) -> Result<Vec<PathBuf>, String> {
        let patterns: Vec<String> = match args.get("path") {
            Some(J::String(s)) => vec![s.clone()],
            Some(J::Array(items)) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            _ => {
                return Err("a nested catalog needs `path:` (a YAML file, a glob or a list)".into())
            }
        };
        let mut roots = vec![root.to_path_buf()];
        roots.extend(self.allowed.iter().cloned());
        let mut files = vec![];
        for p in patterns {
            if p.contains("://") {
                return Err(format!(
                    "`{p}` is remote: nested catalogs are read from local files only"
                ));
            }
            // Checked as written first, so nothing outside is even looked at.
            let full = normalize(&entry.dir.join(&p));
            if !inside(&full, &roots) {
                return Err(outside_root(&p, &full, root));
            }
            let globbed =
                entry.resolved == Some(Resolved::YamlFilesCatalog) && p.contains(['*', '?', '[']);
            if globbed {
                files.extend(
                    glob_files(self.fs.as_ref(), &full, &roots)
                        .map_err(|e| format!("bad glob `{p}`: {e}"))?,
                );
            } else {
                files.push(full);
            }
        }
        if files.is_empty() {
            return Err("`path` matches no file".into());
        }
        let mut real = vec![];
        for f in files {
            // Then the real path: a symlink must not lead out either.
            let r = self
                .fs
                .canonicalize(&f)
                .map_err(|e| format!("cannot open `{}`: {e}", f.display()))?;
            if !inside(&r, &roots) {
                return Err(outside_root(&f.to_string_lossy(), &r, root));
            }
            real.push(r);
        }
        Ok(real)
    }

    /// One file, or several merged into one catalog (`yaml_files_cat`), each entry keeping its
    /// own `CATALOG_DIR` and its file's catalog-wide parameters.
    fn merge_files(&self, files: &[PathBuf], entry: &Entry) -> Result<CatalogFile, String> {
        let mut parsed = vec![];
        for f in files {
            let file = load_file_in(self.fs.as_ref(), f, &self.templater, &self.drivers);
            if file.has_errors() {
                let first = file
                    .diagnostics
                    .iter()
                    .find(|d| d.severity == super::diag::Severity::Error);
                return Err(format!(
                    "{} has errors; first: {}",
                    f.display(),
                    first.map(|d| d.to_string()).unwrap_or_default()
                ));
            }
            parsed.push(file);
        }
        if parsed.len() == 1 {
            return Ok(parsed.remove(0));
        }
        let mut merged = CatalogFile {
            path: files[0].clone(),
            dir: entry.dir.clone(),
            name: None,
            description: entry.description.clone(),
            metadata: J::Object(Map::new()),
            parameters: vec![],
            entries: vec![],
            version: 1,
            diagnostics: vec![],
            by_name: Default::default(),
            name_order: Default::default(),
        };
        for file in parsed {
            for mut e in file.entries {
                if merged.entry(&e.name).is_some() {
                    return Err(format!(
                        "entry `{}` appears in more than one file ({})",
                        e.name,
                        file.path.display()
                    ));
                }
                let mut own = file.parameters.clone();
                override_with(&mut own, &e.parameters);
                e.parameters = own;
                merged.entries.push(e);
            }
        }
        Ok(merged)
    }

    /// Renders a source's args with a caller's parameter values. Returns the args and the
    /// parameter values used.
    pub fn render(
        &self,
        node: &CatalogNode,
        entry: &Entry,
        supplied: &BTreeMap<String, J>,
    ) -> Result<(J, BTreeMap<String, J>), CatalogError> {
        let pinned_errors: Vec<FieldError> = supplied
            .keys()
            .filter(|k| node.pinned.contains_key(*k))
            .map(|k| FieldError {
                name: k.clone(),
                message: format!(
                    "parameter `{k}` is fixed by the parent catalog and cannot be set"
                ),
            })
            .collect();
        if !pinned_errors.is_empty() {
            return Err(CatalogError::Params(pinned_errors));
        }
        let specs = node.entry_params(entry);
        let values = params::resolve(&specs, supplied, &self.env).map_err(CatalogError::Params)?;
        let bad_values = super::caller::check_values(&specs, &values, supplied);
        if !bad_values.is_empty() {
            return Err(CatalogError::Params(bad_values));
        }
        let vars_with = |values: &BTreeMap<String, J>| {
            let mut vars = node.pinned.clone();
            vars.extend(values.clone());
            vars.insert(
                "CATALOG_DIR".into(),
                J::String(entry.dir.to_string_lossy().into_owned()),
            );
            vars
        };
        let args = self
            .templater
            .render(&entry.args, &vars_with(&values), &self.env)
            .map_err(CatalogError::Render)?;
        // Where did the caller's values land? Not in a scheme or a host.
        if let Some(probe) = super::caller::probe_values(&specs, &values, supplied) {
            if let Ok(probe_args) =
                self.templater
                    .render(&entry.args, &vars_with(&probe), &self.env)
            {
                let misplaced =
                    super::caller::check_placement(&specs, &values, supplied, &probe_args);
                if !misplaced.is_empty() {
                    return Err(CatalogError::Params(misplaced));
                }
            }
        }
        Ok((args, values))
    }
}

/// Why a nested catalog path is refused.
fn outside_root(written: &str, resolved: &Path, root: &Path) -> String {
    format!(
        "`{written}` resolves to `{}`, outside the catalog root `{}`: nested catalogs are read \
         only under the root of the catalog that names them (or a prefix the operator allowed \
         with --allow-path); move the file under the root or serve it as a root of its own",
        resolved.display(),
        root.display()
    )
}

/// The files matching a glob (normalized, and under one of `roots`), found by a confined walk
/// rather than by `glob::glob`, which follows symlink loops under `**`. Only the part below the
/// root is a pattern: a `[` in the root's own path is a plain character.
fn glob_files(
    fs: &dyn CatalogFs,
    pattern: &Path,
    roots: &[PathBuf],
) -> Result<Vec<PathBuf>, String> {
    let Some((root, rel)) = roots
        .iter()
        .find_map(|r| Some((r, pattern.strip_prefix(r).ok()?)))
    else {
        return Ok(vec![]);
    };
    let matcher = glob::Pattern::new(&rel.to_string_lossy()).map_err(|e| e.to_string())?;
    let is_glob =
        |c: &std::path::Component<'_>| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    let base = root.join(
        rel.components()
            .take_while(|c| !is_glob(c))
            .collect::<PathBuf>(),
    );
    let rest: Vec<_> = rel.components().skip_while(|c| !is_glob(c)).collect();
    let recursive = rest.iter().any(|c| c.as_os_str() == "**");
    let options = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    let keep = |p: &Path| {
        p.strip_prefix(root)
            .is_ok_and(|rel| matcher.matches_path_with(rel, options))
    };
    let found = walk(
        &base,
        &WalkRules {
            fs,
            roots,
            hidden: true,
            max_depth: (!recursive).then_some(rest.len()),
            keep: &keep,
        },
    );
    Ok(found.files)
}

impl Node {
    /// A node for JSON that came from YAML earlier (positions are lost; `pos` stands in).
    pub fn from_json(j: &J, pos: super::yaml::Pos) -> Node {
        let value = match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            // Loops, not iterator chains: one stack frame per nesting level in debug builds.
            J::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(Node::from_json(item, pos));
                }
                Value::Seq(out)
            }
            J::Object(m) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let key = super::yaml::Key {
                        text: k.clone(),
                        pos,
                    };
                    out.push((key, Node::from_json(v, pos)));
                }
                Value::Map(out)
            }
        };
        Node { pos, value }
    }
}

/// Whether the dotted name `dotted` is `name` or lies under it (`name.` + more). Without
/// allocating: lookups scan every entry of a catalog, and a `format!` per entry made a start
/// over 10,000 sources quadratic in allocations (14 s).
fn names_or_contains(name: &str, dotted: &str) -> bool {
    dotted
        .strip_prefix(name)
        .is_some_and(|tail| tail.is_empty() || tail.starts_with('.'))
}
