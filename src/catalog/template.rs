//! Templating of entry args with minijinja, the Intake way minus its dangers.
//!
//! Intake renders args with Jinja2 and lets templates read any environment variable and run shell
//! commands; undefined names render as "". Here: `env()` only reads variables an operator allowed,
//! `shell()`/`client_shell()` are refused, and an undefined name is an error. Intake's
//! Python-isms (`'%02d' % id`, `env(NAME)` with a bare name) are rewritten to plain minijinja.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};
use regex::Regex;
use serde_json::Value as J;

/// Which environment variables templates and parameter defaults may read.
#[derive(Debug, Clone, Default)]
pub struct EnvPolicy {
    allowed: BTreeSet<String>,
}

impl EnvPolicy {
    pub fn allow<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        EnvPolicy {
            allowed: names.into_iter().map(Into::into).collect(),
        }
    }

    /// The variable's value (None when unset), or an error when the operator did not allow it.
    pub fn get(&self, name: &str) -> Result<Option<String>, String> {
        if !self.allowed.contains(name) {
            return Err(format!(
                "environment variable `{name}` is not on the allowlist: an operator can allow it \
                 with `--allow-env {name}` (or INLET_ALLOW_ENV={name})"
            ));
        }
        Ok(std::env::var(name).ok())
    }
}

static ENV_BARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:client_)?env\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*([,)])").expect("valid regex")
});
static ENV_QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bclient_env\(").expect("valid regex"));
static SHELL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(?:client_)?shell\s*\(").expect("valid regex"));
static PERCENT_FORMAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:'([^'\\]*)'|"([^"\\]*)")\s*%\s*(\([^()]*\)|[A-Za-z_][A-Za-z0-9_.]*|-?[0-9.]+)"#,
    )
    .expect("valid regex")
});
static EXPR_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\{\{.*?\}\}|\{%.*?%\}").expect("valid regex"));
static BARE_VAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$").expect("valid regex")
});
static DEFAULT_ENV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*(?:client_)?env\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$").expect("valid regex")
});

/// Names that every template may use without declaring them.
pub const BUILTIN_NAMES: &[&str] = &["CATALOG_DIR", "env", "pyformat"];

pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// `env(NAME)` as a whole parameter default: the variable's name.
pub fn default_env_var(s: &str) -> Option<&str> {
    DEFAULT_ENV
        .captures(s)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

/// `Err` with the reason when a string asks to run a command.
pub fn refuse_shell(s: &str) -> Result<(), String> {
    // Every templated string of a catalog passes here; few name `shell` at all.
    if s.contains("shell") && SHELL.is_match(s) {
        return Err(
            "shell() and client_shell() are refused: Inlet never runs commands from a catalog; \
             put the value in a parameter default or an allowed env() variable"
                .to_string(),
        );
    }
    Ok(())
}

/// Rewrites Intake's Python-flavoured expressions into minijinja.
fn preprocess(src: &str) -> String {
    EXPR_BLOCK
        .replace_all(src, |caps: &regex::Captures| {
            let block = &caps[0];
            let block = ENV_BARE.replace_all(block, "env(\"$1\"$2");
            let block = ENV_QUOTED.replace_all(&block, "env(");
            PERCENT_FORMAT
                .replace_all(&block, |c: &regex::Captures| {
                    let fmt = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                    format!("pyformat({:?}, {})", fmt, &c[3])
                })
                .into_owned()
        })
        .into_owned()
}

/// Compiles templates and renders args. Built once per loader: the environment is reused.
pub struct Templater {
    env: Environment<'static>,
    /// What [`Templater::inspect`] found for each `{{ expression }}` seen: catalogs repeat
    /// the same few expressions across thousands of entries, and compiling one is most of
    /// what loading an entry costs.
    inspected: Mutex<InspectMemo>,
}

/// The names one expression reads, or why it is refused.
type Inspected = Result<Arc<[String]>, String>;

/// What [`Templater::inspect_names`] found for each expression: the templater's shared memo,
/// and one kept by each caller in front of it.
#[derive(Default)]
pub struct InspectMemo(HashMap<String, Inspected>);

impl InspectMemo {
    fn get(&self, block: &str) -> Option<Inspected> {
        self.0.get(block).cloned()
    }

    /// Keeps `found` for `block` (the memo is cleared when full) and hands it back.
    fn remember(&mut self, block: &str, found: Inspected) -> Inspected {
        if self.0.len() >= INSPECTED_MAX {
            self.0.clear();
        }
        self.0.insert(block.to_string(), found.clone());
        found
    }
}

/// Expressions remembered by one loader at most (the memo is cleared when full).
const INSPECTED_MAX: usize = 16_384;

impl Default for Templater {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_function("pyformat", pyformat);
        // Compile the patterns now: compiling a regex takes tens of KiB of stack, which a
        // first use at the bottom of a deep render should not have to find.
        for re in [
            &ENV_BARE,
            &ENV_QUOTED,
            &SHELL,
            &PERCENT_FORMAT,
            &EXPR_BLOCK,
            &BARE_VAR,
            &DEFAULT_ENV,
        ] {
            LazyLock::force(re);
        }
        Templater {
            env,
            inspected: Mutex::default(),
        }
    }
}

impl Templater {
    /// Checks a template at load time: syntax and refused functions. Returns the names it reads
    /// (beyond the built-ins), which the loader turns into implicit parameters when undeclared.
    /// A template made of text and `{{ expression }}`s only is checked expression by
    /// expression, each compiled once per loader; anything else (statements, comments, quotes
    /// that could hide a `}}`) is compiled whole.
    pub fn inspect(&self, src: &str) -> Result<BTreeSet<String>, String> {
        let mut names = BTreeSet::new();
        self.inspect_names(src, &mut InspectMemo::default(), &mut |n| {
            names.insert(n.to_string());
        })?;
        Ok(names)
    }

    /// [`Templater::inspect`] without building a set: each name read is handed to `each`
    /// (a name read by several expressions, several times). Nothing is handed on when the
    /// template is refused. This runs once per templated string of a catalog, so it allocates
    /// nothing for an expression seen before.
    /// `memo`: the caller's own memo, asked before the shared one.
    pub fn inspect_names(
        &self,
        src: &str,
        memo: &mut InspectMemo,
        each: &mut dyn FnMut(&str),
    ) -> Result<(), String> {
        check_size(src)?;
        let Some(blocks) = expression_blocks(src) else {
            self.inspect_whole(src)?.iter().for_each(|n| each(n));
            return Ok(());
        };
        refuse_shell(src)?;
        let mut found = Vec::with_capacity(blocks.len());
        for block in blocks {
            let names = match memo.get(block) {
                Some(hit) => hit,
                None => memo.remember(block, self.inspect_expression(block)),
            };
            found.push(names?);
        }
        found
            .iter()
            .flat_map(|names| names.iter())
            .for_each(|n| each(n));
        Ok(())
    }

    fn inspect_expression(&self, block: &str) -> Inspected {
        if let Some(hit) = self.inspected.lock().ok().and_then(|m| m.get(block)) {
            return hit;
        }
        let found = self
            .inspect_whole(block)
            .map(|names| names.into_iter().collect::<Arc<[String]>>());
        match self.inspected.lock() {
            Ok(mut memo) => memo.remember(block, found),
            Err(_) => found,
        }
    }

    fn inspect_whole(&self, src: &str) -> Result<BTreeSet<String>, String> {
        check_size(src)?;
        refuse_shell(src)?;
        check_formats(src)?;
        let pre = preprocess(src);
        check_size(&pre)?;
        let tmpl = self
            .env
            .template_from_str(&pre)
            .map_err(|e| format!("template error: {}", describe(&e)))?;
        Ok(tmpl
            .undeclared_variables(false)
            .into_iter()
            .filter(|v| !BUILTIN_NAMES.contains(&v.as_str()))
            .collect())
    }

    /// Renders every templated string inside `args` (recursively through lists and maps).
    pub fn render(
        &self,
        args: &J,
        vars: &BTreeMap<String, J>,
        env: &EnvPolicy,
    ) -> Result<J, String> {
        self.render_at(args, vars, env, "args")
    }

    fn render_at(
        &self,
        value: &J,
        vars: &BTreeMap<String, J>,
        env: &EnvPolicy,
        path: &str,
    ) -> Result<J, String> {
        // Plain loops rather than iterator chains: in debug builds each adapter is a stack
        // frame per nesting level, and values may nest as deep as the loader allows.
        Ok(match value {
            J::String(s) if is_template(s) => self
                .render_str(s, vars, env)
                .map_err(|e| format!("{path}: {e}"))?,
            J::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, v) in items.iter().enumerate() {
                    out.push(self.render_at(v, vars, env, &format!("{path}[{i}]"))?);
                }
                J::Array(out)
            }
            J::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let rendered = self.render_at(v, vars, env, &format!("{path}.{k}"))?;
                    out.insert(k.clone(), rendered);
                }
                J::Object(out)
            }
            other => other.clone(),
        })
    }

    /// Renders one string. A string that is exactly `{{ name }}` keeps the value's type.
    pub fn render_str(
        &self,
        src: &str,
        vars: &BTreeMap<String, J>,
        env: &EnvPolicy,
    ) -> Result<J, String> {
        if let Some(name) = BARE_VAR.captures(src).and_then(|c| c.get(1)) {
            if let Some(v) = vars.get(name.as_str()) {
                return Ok(v.clone());
            }
        }
        let used = self.inspect(src)?;
        if let Some(missing) = used.iter().find(|n| !vars.contains_key(*n)) {
            return Err(format!(
                "`{missing}` has no value: pass it as a parameter (`--param {missing}=...`, or \
                 `param.{missing}=...` over HTTP), or declare it with a default in the catalog"
            ));
        }
        let mut jenv = self.env.clone();
        let policy = env.clone();
        jenv.add_function(
            "env",
            move |name: String, default: Option<String>| -> Result<String, Error> {
                match policy.get(&name) {
                    Err(msg) => Err(Error::new(ErrorKind::InvalidOperation, msg)),
                    Ok(Some(v)) => Ok(v),
                    Ok(None) => default.ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!(
                                "environment variable `{name}` is not set and env() has no default"
                            ),
                        )
                    }),
                }
            },
        );
        let pre = preprocess(src);
        let rendered = jenv.render_str(&pre, vars).map_err(|e| describe(&e))?;
        Ok(J::String(rendered))
    }
}

/// The longest template compiled. minijinja counts lines and columns in 16 bits, and a syntax
/// error past column 65,535 overflows them (a panic in builds with overflow checks, found by
/// the fuzzer); args templates are paths and names, far shorter.
pub const MAX_TEMPLATE_BYTES: usize = 60_000;

/// The `{{ ... }}` blocks of a template that holds nothing else (no `{% %}`, no `{# #}`, no
/// stray `{{`, no block with an odd number of quotes), or None.
fn expression_blocks(src: &str) -> Option<Vec<&str>> {
    if src.contains("{%") || src.contains("{#") {
        return None;
    }
    // Each `{{` up to the first `}}` after it, as the non-greedy `\{\{.*?\}\}` finds them;
    // `.` stops at a line break, and such a template is compiled whole.
    let mut blocks = vec![];
    let mut from = 0;
    while let Some(open) = src[from..].find("{{") {
        let start = from + open;
        let end = start + 2 + src[start + 2..].find("}}")? + 2;
        let block = &src[start..end];
        let odd = |q: char| block.matches(q).count() % 2 == 1;
        if block.contains('\n') || odd('"') || odd('\'') {
            return None;
        }
        blocks.push(block);
        from = end;
    }
    Some(blocks)
}

fn check_size(src: &str) -> Result<(), String> {
    if src.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "the template is {} bytes long, over the limit of {MAX_TEMPLATE_BYTES}; put long \
             values in parameters",
            src.len()
        ));
    }
    Ok(())
}

/// minijinja errors carry their cause in a chain; show the useful part only.
fn describe(e: &Error) -> String {
    match e.detail() {
        Some(detail) => detail.to_string(),
        None => e.kind().to_string(),
    }
}

/// Python's `'%02d' % value` (and `'%s-%s' % (a, b)`), which Intake catalogs use for paths.
fn pyformat(fmt: String, args: minijinja::Value) -> Result<String, Error> {
    let values: Vec<minijinja::Value> = if args.kind() == minijinja::value::ValueKind::Seq {
        args.try_iter()?.collect()
    } else {
        vec![args]
    };
    let mut values = values.into_iter();
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let bad = |m: &str| Error::new(ErrorKind::InvalidOperation, format!("'%' format: {m}"));
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            out.push('%');
            continue;
        }
        let Spec {
            flags,
            width,
            precision,
            conv,
        } = read_spec(&mut chars).map_err(|m| bad(&m))?;
        let conv = conv.ok_or_else(|| bad("incomplete format"))?;
        let value = values.next().ok_or_else(|| bad("not enough arguments"))?;
        let body = match conv {
            'd' | 'i' => {
                let n = as_f64(&value).ok_or_else(|| bad("%d needs a number"))?;
                let n = n.trunc() as i64;
                if flags.contains('+') && n >= 0 {
                    format!("+{n}")
                } else {
                    n.to_string()
                }
            }
            'f' | 'F' => {
                let n = as_f64(&value).ok_or_else(|| bad("%f needs a number"))?;
                format!("{:.*}", precision.unwrap_or(6), n)
            }
            'e' => {
                let n = as_f64(&value).ok_or_else(|| bad("%e needs a number"))?;
                format!("{:.*e}", precision.unwrap_or(6), n)
            }
            'x' => format!(
                "{:x}",
                as_f64(&value).ok_or_else(|| bad("%x needs a number"))? as i64
            ),
            'o' => format!(
                "{:o}",
                as_f64(&value).ok_or_else(|| bad("%o needs a number"))? as i64
            ),
            's' | 'r' => {
                let s = value.to_string();
                match precision {
                    Some(p) => s.chars().take(p).collect(),
                    None => s,
                }
            }
            other => return Err(bad(&format!("unsupported conversion %{other}"))),
        };
        let pad = width.saturating_sub(body.chars().count());
        if flags.contains('-') {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', pad));
        } else if flags.contains('0') && conv != 's' {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(rest) => (&body[..1], rest),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', pad));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&body);
        }
    }
    if values.next().is_some() {
        return Err(bad("not all arguments converted"));
    }
    Ok(out)
}

/// The widest field or longest precision a `%`-format may ask for. Paths and names need a few
/// digits; `'%0999999999d'` would make one rendered string cost a gigabyte.
pub const MAX_FORMAT_WIDTH: usize = 1_000;

/// One `%` conversion: flags, width, precision and the conversion letter.
struct Spec {
    flags: String,
    width: usize,
    precision: Option<usize>,
    /// None when the format ends after the `%`.
    conv: Option<char>,
}

/// Reads the conversion that follows a `%` (not `%%`); refuses sizes over [`MAX_FORMAT_WIDTH`].
fn read_spec(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Spec, String> {
    let mut flags = String::new();
    while let Some(&f) = chars
        .peek()
        .filter(|f| matches!(f, '-' | '+' | ' ' | '0' | '#'))
    {
        flags.push(f);
        chars.next();
    }
    let width = bounded_number(chars, "width")?;
    let mut precision = None;
    if chars.peek() == Some(&'.') {
        chars.next();
        // Python reads a bare `.` as precision 0.
        precision = Some(bounded_number(chars, "precision")?);
    }
    Ok(Spec {
        flags,
        width,
        precision,
        conv: chars.next(),
    })
}

/// The digits at the front of `chars` as a width or precision (0 when there are none), refused
/// above [`MAX_FORMAT_WIDTH`] before anything is padded.
fn bounded_number(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    what: &str,
) -> Result<usize, String> {
    let mut digits = String::new();
    while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
        digits.push(d);
        chars.next();
    }
    if digits.is_empty() {
        return Ok(0);
    }
    match digits.parse::<usize>() {
        Ok(n) if n <= MAX_FORMAT_WIDTH => Ok(n),
        _ => Err(format!(
            "{what} {digits} is over the limit of {MAX_FORMAT_WIDTH}; use a smaller {what}"
        )),
    }
}

/// Checks the widths and precisions of every `'...' % value` format in a template, so a
/// catalog asking for a huge one is refused when it is loaded rather than when it is read.
fn check_formats(src: &str) -> Result<(), String> {
    for block in EXPR_BLOCK.find_iter(src) {
        for c in PERCENT_FORMAT.captures_iter(block.as_str()) {
            let fmt = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
            let mut chars = fmt.chars().peekable();
            while let Some(ch) = chars.next() {
                if ch != '%' || chars.next_if_eq(&'%').is_some() {
                    continue;
                }
                // Only the size limits are checked here; anything else fails when rendered,
                // as in Intake.
                read_spec(&mut chars)
                    .map_err(|m| format!("template error: '%' format `{fmt}`: {m}"))?;
            }
        }
    }
    Ok(())
}

fn as_f64(v: &minijinja::Value) -> Option<f64> {
    if let Ok(i) = i64::try_from(v.clone()) {
        return Some(i as f64);
    }
    if let Ok(f) = f64::try_from(v.clone()) {
        return Some(f);
    }
    v.as_str().and_then(|s| s.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The regex `expression_blocks` replaced: the scan must find the same blocks.
    fn expression_blocks_by_regex(src: &str) -> Option<Vec<&str>> {
        if src.contains("{%") || src.contains("{#") {
            return None;
        }
        let mut blocks = vec![];
        let mut text_from = 0;
        for m in EXPR_BLOCK.find_iter(src) {
            if src[text_from..m.start()].contains("{{") {
                return None;
            }
            let block = m.as_str();
            let odd = |q: char| block.matches(q).count() % 2 == 1;
            if odd('"') || odd('\'') {
                return None;
            }
            blocks.push(block);
            text_from = m.end();
        }
        if src[text_from..].contains("{{") {
            return None;
        }
        Some(blocks)
    }

    #[test]
    fn expression_blocks_are_found_as_the_regex_found_them() {
        let cases = [
            "plain",
            "{{ a }}",
            "s3://b/{{ region }}/x={{ '%02d' % month }}.parquet",
            "{{{ a }}}",
            "{{}}",
            "{{ a }",
            "{{ a \n }}",
            "{{ a \n {{ b }}",
            "x {{ a }} y {{ b",
            "{{ 'a}}' }}",
            "{{ \"q\" }} and {{ 'r' }}",
            "{{ a }}}}{{ b }}",
            "{{ a \r }}",
            "{{ env('X') }}/{{ b }}\n",
            "{% if a %}{{ a }}{% endif %}",
            "}} {{ a }}",
            "{ {a} } {{a}}",
        ];
        for case in cases {
            assert_eq!(
                expression_blocks(case),
                expression_blocks_by_regex(case),
                "{case:?}"
            );
        }
    }

    fn vars(v: J) -> BTreeMap<String, J> {
        serde_json::from_value(v).expect("object")
    }

    fn render(src: &str, v: J) -> Result<J, String> {
        Templater::default().render_str(src, &vars(v), &EnvPolicy::default())
    }

    #[test]
    fn catalog_dir_and_params_render() {
        let out = render(
            "{{ CATALOG_DIR }}/x_{{ part }}.csv",
            json!({"CATALOG_DIR": "/c", "part": "1"}),
        );
        assert_eq!(out, Ok(json!("/c/x_1.csv")));
    }

    #[test]
    fn percent_format_expressions() {
        assert_eq!(
            render("f_{{ '%02d' % id }}.tif", json!({"id": 3})),
            Ok(json!("f_03.tif"))
        );
        assert_eq!(
            render("{{ '%03d' % path }}", json!({"path": 7})),
            Ok(json!("007"))
        );
        assert_eq!(
            render("{{'%d' % year}}", json!({"year": 2019})),
            Ok(json!("2019"))
        );
        assert_eq!(
            render("{{ \"%s-%s\" % (a, b) }}", json!({"a": "x", "b": 2})),
            Ok(json!("x-2"))
        );
        assert_eq!(
            render("{{ '%.2f' % v }}", json!({"v": 1.5})),
            Ok(json!("1.50"))
        );
    }

    #[test]
    fn undefined_variable_is_an_error_not_empty() {
        let err = render("grid_{{ res }}.zarr", json!({})).expect_err("undefined");
        assert!(err.contains("`res` has no value"), "{err}");
    }

    #[test]
    fn exact_variable_keeps_native_type() {
        assert_eq!(
            render("{{ cols }}", json!({"cols": ["a", "b"]})),
            Ok(json!(["a", "b"]))
        );
        assert_eq!(render(" {{n}} ", json!({"n": 5})), Ok(json!(5)));
        assert_eq!(render("{{ flag }}", json!({"flag": true})), Ok(json!(true)));
        assert_eq!(render("x{{ n }}", json!({"n": 5})), Ok(json!("x5")));
    }

    #[test]
    fn shell_is_refused_and_never_run() {
        let t = Templater::default();
        for src in ["{{ shell('rm -rf /') }}", "{{ client_shell('ls') }}"] {
            let err = t.inspect(src).expect_err("refused");
            assert!(err.contains("refused"), "{err}");
        }
        assert!(refuse_shell("shell(echo hi)").is_err());
    }

    #[test]
    fn env_needs_the_allowlist() {
        std::env::set_var("INLET_TEST_ALLOWED", "/data");
        let t = Templater::default();
        let none = EnvPolicy::default();
        let err = t
            .render_str("{{ env(INLET_TEST_ALLOWED) }}/x", &BTreeMap::new(), &none)
            .expect_err("not allowed");
        assert!(err.contains("--allow-env INLET_TEST_ALLOWED"), "{err}");
        let ok = EnvPolicy::allow(["INLET_TEST_ALLOWED", "INLET_TEST_UNSET"]);
        let bare = t.render_str("{{ env(INLET_TEST_ALLOWED) }}/x", &BTreeMap::new(), &ok);
        assert_eq!(bare, Ok(json!("/data/x")));
        let quoted = t.render_str("{{ env('INLET_TEST_ALLOWED') }}", &BTreeMap::new(), &ok);
        assert_eq!(quoted, Ok(json!("/data")));
        let default = t.render_str("{{ env('INLET_TEST_UNSET', 'd') }}", &BTreeMap::new(), &ok);
        assert_eq!(default, Ok(json!("d")));
        let unset = t.render_str("{{ env('INLET_TEST_UNSET') }}", &BTreeMap::new(), &ok);
        assert!(unset.expect_err("unset").contains("not set"));
    }

    #[test]
    fn nested_args_are_rendered() {
        let t = Templater::default();
        let args = json!({"urlpath": ["{{a}}/1", "{{a}}/2"], "opts": {"k": "{{ a }}"}, "n": 3});
        let out = t.render(&args, &vars(json!({"a": "s3://b"})), &EnvPolicy::default());
        assert_eq!(
            out,
            Ok(json!({"urlpath": ["s3://b/1", "s3://b/2"], "opts": {"k": "s3://b"}, "n": 3}))
        );
    }

    #[test]
    fn inspect_lists_used_names_and_syntax_errors() {
        let t = Templater::default();
        let names = t.inspect("{{ CATALOG_DIR }}/{{ bucket }}/{{ env(HOME) }}/{{ '%02d' % id }}");
        assert_eq!(
            names,
            Ok(["bucket", "id"].iter().map(|s| s.to_string()).collect())
        );
        assert!(t
            .inspect("{{ a ")
            .expect_err("syntax")
            .starts_with("template error"));
    }

    #[test]
    fn inspecting_by_expression_agrees_with_compiling_the_whole_template() {
        let t = Templater::default();
        for src in [
            "{{ CATALOG_DIR }}/{{ bucket }}/{{ '%02d' % id }}.csv",
            "s3://b/{{ region }}/x={{ region }}/{{ year|string }}",
            "{{ a + b }}{{ c.d }}{{ e[f] }}",
            "{{ \"}}\" }} {{ x }}",
            "{{ a ",
            "{{ a }} {{",
            "{{ }}",
            "{{ shell('ls') }}",
            "{% if a %}{{ b }}{% endif %}",
            "{# note #}{{ c }}",
            "plain text",
            "{{ '%0999999999d' % 1 }}",
        ] {
            // Twice: the second answer comes from the memo.
            for _ in 0..2 {
                assert_eq!(t.inspect(src), t.inspect_whole(src), "{src}");
            }
        }
    }

    #[test]
    fn default_env_is_recognised() {
        assert_eq!(default_env_var("env(INTAKE_TEST)"), Some("INTAKE_TEST"));
        assert_eq!(default_env_var("client_env(X)"), Some("X"));
        assert_eq!(default_env_var("environment"), None);
    }

    #[test]
    fn huge_format_widths_are_refused_at_load_and_at_render() {
        let t = Templater::default();
        for src in [
            "{{ '%0999999999d' % 1 }}",
            "{{ '%.2000f' % v }}",
            "{{ \"%s-%99999999999999999999999s\" % (a, b) }}",
        ] {
            let err = t.inspect(src).expect_err("refused at load");
            assert!(err.contains("over the limit of 1000"), "{err}");
        }
        // A format the loader cannot see (called directly) is refused when rendered.
        let err = render("{{ pyformat('%0999999999d', 1) }}", json!({})).expect_err("refused");
        assert!(
            err.contains("width 999999999 is over the limit of 1000"),
            "{err}"
        );
        assert_eq!(
            render("{{ '%01000d' % 7 }}", json!({})).map(|v| v.as_str().map(str::len)),
            Ok(Some(1000))
        );
        assert_eq!(render("{{ '%.f' % 2.4 }}", json!({})), Ok(json!("2")));
    }
}
