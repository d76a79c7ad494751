//! Byte and text mutations of real files (flips, truncations, splices, deep nesting, aliases,
//! encodings), and the shrinking of byte strings.

use fastrand::Rng;

/// Tokens that mean something to YAML, Jinja or Intake, spliced into inputs.
pub const YAML_TOKENS: &[&str] = &[
    "{{ ",
    " }}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{% for x in range(10) %}x{% endfor %}",
    "{% if x %}",
    "{% endif %}",
    "{{ CATALOG_DIR }}",
    "{{ env(HOME) }}",
    "{{ env('HOME', 'x') }}",
    "{{ shell('ls') }}",
    "{{ '%05d' % month }}",
    "{{ '%0999d' % 1 }}",
    "{{ '%-1001s' % x }}",
    "{{ '%s-%s' % (a, b) }}",
    "{{ x|upper }}",
    "{{ undefined_name }}",
    "&a ",
    "*a",
    "&anchor ",
    "*anchor",
    "<<: *a\n",
    "!!binary ",
    "!!python/object/apply:os.system ",
    "!!str ",
    "!!int ",
    "!custom ",
    "? ",
    "? complex\n: key\n",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "\t",
    "\r",
    "\r\n",
    "\u{feff}",
    "\u{0}",
    "\u{85}",
    "\u{2028}",
    "~",
    "null",
    ".inf",
    ".nan",
    "0x1F",
    "0o17",
    "1e400",
    "-9223372036854775809",
    "18446744073709551616",
    "99999999999999999999999999",
    "true",
    "- ",
    "- - - - ",
    ": ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "|\n",
    ">-\n",
    "'",
    "\"",
    "\\",
    "\"\\u0000\"",
    "\"\\U0001F600\"",
    "sources:\n",
    "sources: {}\n",
    "sources: []\n",
    "metadata:\n",
    "parameters:\n",
    "user_parameters:\n",
    "version: 2\n",
    "data:\n",
    "entries:\n",
    "name: x\n",
    "driver: parquet\n",
    "driver: csv\n",
    "driver: [csv, parquet]\n",
    "driver: {a: b}\n",
    "driver: yaml_file_cat\n",
    "driver: yaml_files_cat\n",
    "driver: intake.catalog.local.YAMLFileCatalog\n",
    "driver: intake.catalog.local.YAMLFilesCatalog\n",
    "path: '{{ CATALOG_DIR }}/cat.yaml'\n",
    "path: '{{ CATALOG_DIR }}/other.yaml'\n",
    "path: '{{ CATALOG_DIR }}/*.yaml'\n",
    "path: '{{ CATALOG_DIR }}/**/[a-z]*.yaml'\n",
    "path: /etc/passwd\n",
    "path: ../../../etc\n",
    "urlpath: '{{ CATALOG_DIR }}/x.csv'\n",
    "urlpath: s3://bucket/key\n",
    "args:\n",
    "type: int\n",
    "type: float\n",
    "type: bool\n",
    "type: datetime\n",
    "type: list\n",
    "type: mlist\n",
    "type: str\n",
    "type: strr\n",
    "default: ",
    "default: env(HOME)\n",
    "default: shell(ls)\n",
    "min: ",
    "max: ",
    "allowed: [",
    "allowed: []\n",
    "description: ",
    "direct_access: forbid\n",
    "cache:\n",
    "plugins:\n",
    "reader: x.Y\n",
    "datatype: Parquet\n",
    "kwargs:\n",
    "'{data(d1)}'",
    "{data(x)}",
];

/// Interesting single bytes.
const BYTES: &[u8] = &[
    0, 0xff, 0xfe, 0xef, 0xbb, 0xbf, 0xc3, 0x80, b'\n', b'\r', b'\t', b' ', b':', b'-', b'{', b'}',
    b'[', b']', b'&', b'*', b'!', b'%', b'\'', b'"', b'#', b'|', b'>', b'?', b',', b'@', b'`',
    b'\\',
];

fn pos(rng: &mut Rng, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        rng.usize(..=len)
    }
}

fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let a = pos(rng, len);
    let max = (len - a).min(if rng.bool() { 16 } else { 4096 });
    (a, a + rng.usize(..=max))
}

/// Deep nesting of one of YAML's kinds, `depth` levels, as a text fragment.
pub fn nesting(rng: &mut Rng, depth: usize) -> String {
    match rng.u8(..4) {
        0 => "[".repeat(depth) + &"]".repeat(depth),
        1 => "{a: ".repeat(depth) + "1" + &"}".repeat(depth),
        2 => {
            let mut s = String::from("\n");
            for i in 0..depth {
                s.push_str(&" ".repeat(i * 2));
                s.push_str("k:\n");
            }
            s
        }
        _ => {
            let mut s = String::from("\n");
            for i in 0..depth {
                s.push_str(&" ".repeat(i * 2));
                s.push_str("- \n");
            }
            s
        }
    }
}

/// A "billion laughs" fragment: `levels` levels of `width` aliases each.
pub fn alias_bomb(levels: usize, width: usize) -> String {
    let mut s = String::from("\nlaughs:\n  l0: &l0 [lol]\n");
    for i in 1..=levels {
        let refs: Vec<String> = (0..width).map(|_| format!("*l{}", i - 1)).collect();
        s.push_str(&format!("  l{i}: &l{i} [{}]\n", refs.join(", ")));
    }
    s
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xfe, 0xff]
    } else {
        vec![0xff, 0xfe]
    };
    for unit in text.encode_utf16() {
        out.extend(if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        });
    }
    out
}

/// One to four stacked mutations of `data`; `others` are other seeds to splice from.
pub fn mutate(rng: &mut Rng, data: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..rng.usize(1..=4) {
        mutate_once(rng, &mut d, others);
        if d.len() > 4 << 20 {
            d.truncate(4 << 20);
        }
    }
    d
}

fn mutate_once(rng: &mut Rng, d: &mut Vec<u8>, others: &[Vec<u8>]) {
    let len = d.len();
    match rng.u8(..17) {
        // Bit flip.
        0 if len > 0 => {
            let i = rng.usize(..len);
            d[i] ^= 1 << rng.u8(..8);
        }
        // An interesting byte, set or inserted.
        1 if len > 0 => {
            let i = rng.usize(..len);
            d[i] = BYTES[rng.usize(..BYTES.len())];
        }
        2 => {
            let i = pos(rng, len);
            d.insert(i, BYTES[rng.usize(..BYTES.len())]);
        }
        // Delete a range.
        3 => {
            let (a, b) = range(rng, len);
            d.drain(a..b);
        }
        // Truncate.
        4 => {
            let i = pos(rng, len);
            d.truncate(i);
        }
        // Duplicate a range somewhere else.
        5 => {
            let (a, b) = range(rng, len);
            let chunk = d[a..b].to_vec();
            let i = pos(rng, len);
            d.splice(i..i, chunk);
        }
        // Splice from another seed (insert or replace).
        6 if !others.is_empty() => {
            let other = &others[rng.usize(..others.len())];
            let (a, b) = range(rng, other.len());
            let chunk = other[a..b].to_vec();
            if rng.bool() {
                let i = pos(rng, len);
                d.splice(i..i, chunk);
            } else {
                let (x, y) = range(rng, len);
                d.splice(x..y, chunk);
            }
        }
        // A token, at a random place or at a line start.
        7 | 8 => {
            let t = YAML_TOKENS[rng.usize(..YAML_TOKENS.len())]
                .as_bytes()
                .to_vec();
            let i = if rng.bool() {
                line_start(rng, d)
            } else {
                pos(rng, len)
            };
            d.splice(i..i, t);
        }
        // Deep nesting.
        9 => {
            let depth = if rng.bool() {
                rng.usize(1..80)
            } else {
                rng.usize(60..400)
            };
            let frag = nesting(rng, depth).into_bytes();
            let i = line_start(rng, d);
            d.splice(i..i, frag);
        }
        // Aliases: a bomb, or an anchor and its alias.
        10 => {
            let frag = if rng.bool() {
                alias_bomb(rng.usize(1..12), rng.usize(1..12))
            } else {
                "\nx: &a {k: [1, 2, 3]}\ny: *a\nz: [*a, *a, *a]\n".to_string()
            };
            let i = line_start(rng, d);
            d.splice(i..i, frag.into_bytes());
        }
        // Line operations: swap, duplicate, re-indent.
        11 | 12 => {
            let lines: Vec<&[u8]> = d.split(|b| *b == b'\n').collect();
            if lines.len() < 2 {
                return;
            }
            let mut lines: Vec<Vec<u8>> = lines.into_iter().map(<[u8]>::to_vec).collect();
            let i = rng.usize(..lines.len());
            let j = rng.usize(..lines.len());
            match rng.u8(..4) {
                0 => lines.swap(i, j),
                1 => {
                    let l = lines[i].clone();
                    lines.insert(j, l);
                }
                2 => {
                    let n = rng.usize(1..9);
                    lines[i].splice(0..0, std::iter::repeat_n(b' ', n));
                }
                _ => {
                    let n = lines[i].iter().take_while(|b| **b == b' ').count();
                    let k = rng.usize(..=n);
                    lines[i].drain(..k);
                }
            }
            *d = lines.join(&b'\n');
        }
        // Encodings: UTF-16 with a BOM, or a UTF-8 BOM.
        13 => match std::str::from_utf8(d) {
            Ok(text) if rng.u8(..3) > 0 => *d = utf16(text, rng.bool()),
            _ => d.splice(0..0, [0xef, 0xbb, 0xbf]).for_each(drop),
        },
        // A huge scalar.
        14 => {
            let i = pos(rng, len);
            let n = rng.usize(1000..200_000);
            let c = [b'a', b'9', b' ', b'{', b'%'][rng.usize(..5)];
            d.splice(i..i, std::iter::repeat_n(c, n));
        }
        // A number replaced by an extreme one.
        15 => {
            if let Some(i) = (0..8)
                .map(|_| pos(rng, len))
                .find(|&i| d.get(i).is_some_and(u8::is_ascii_digit))
            {
                let end = i + d[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                let n = [
                    "0",
                    "-1",
                    "4294967296",
                    "18446744073709551616",
                    "1e308",
                    "99999999999",
                ][rng.usize(..6)];
                d.splice(i..end, n.bytes());
            }
        }
        // Random bytes.
        _ => {
            let i = pos(rng, len);
            let n = rng.usize(1..32);
            let junk: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
            d.splice(i..i, junk);
        }
    }
}

fn line_start(rng: &mut Rng, d: &[u8]) -> usize {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            d.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    starts[rng.usize(..starts.len())]
}

/// Smaller byte strings: halves, then removed chunks of decreasing size, then removed lines.
pub fn shrink_bytes(d: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![];
    if d.is_empty() {
        return out;
    }
    let lines: Vec<&[u8]> = d.split(|b| *b == b'\n').collect();
    if lines.len() > 1 {
        for i in 0..lines.len() {
            let mut v: Vec<&[u8]> = lines.clone();
            v.remove(i);
            out.push(v.join(&b'\n'));
        }
    }
    let mut chunk = d.len() / 2;
    while chunk >= 1 {
        let mut start = 0;
        while start < d.len() {
            let end = (start + chunk).min(d.len());
            let mut v = d[..start].to_vec();
            v.extend_from_slice(&d[end..]);
            out.push(v);
            start += chunk;
        }
        if out.len() > 4000 {
            break;
        }
        chunk /= 2;
    }
    out
}

/// Smaller strings (kept valid UTF-8).
pub fn shrink_string(s: &str) -> Vec<String> {
    shrink_bytes(s.as_bytes())
        .into_iter()
        .filter_map(|b| String::from_utf8(b).ok())
        .collect()
}

/// Bytes as a Rust byte-string literal (for regression tests).
pub fn show_bytes(d: &[u8]) -> String {
    let mut s = String::from("b\"");
    for &b in d {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}
