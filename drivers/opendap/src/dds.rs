//! DAP2 text responses: the tokenizer shared with the DAS, and the DDS (`.dds`), the dataset's
//! structure: which arrays, of which types, over which named dimensions.
//!
//! ```text
//! Dataset {
//!     Grid {
//!       Array:
//!         Float32 air[time = 10][lat = 7];
//!       Maps:
//!         Int32 time[time = 10];
//!         Float64 lat[lat = 7];
//!     } air;
//!     Int32 time[time = 10];
//! } name;
//! ```

/// The DAP2 base types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DapType {
    Byte,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Float32,
    Float64,
    String,
    Url,
}

impl DapType {
    fn parse(s: &str) -> Option<DapType> {
        Some(match s.to_ascii_lowercase().as_str() {
            "byte" => DapType::Byte,
            "int16" => DapType::Int16,
            "uint16" => DapType::UInt16,
            "int32" => DapType::Int32,
            "uint32" => DapType::UInt32,
            "float32" => DapType::Float32,
            "float64" => DapType::Float64,
            "string" => DapType::String,
            "url" => DapType::Url,
            _ => return None,
        })
    }

    /// Bytes per element in the XDR encoding of an array (Byte arrays are packed, 16-bit
    /// integers travel as 32 bits); None for strings.
    pub fn xdr_size(self) -> Option<usize> {
        match self {
            DapType::Byte => Some(1),
            DapType::Int16 | DapType::UInt16 | DapType::Int32 | DapType::UInt32 => Some(4),
            DapType::Float32 => Some(4),
            DapType::Float64 => Some(8),
            DapType::String | DapType::Url => None,
        }
    }
}

/// One array (or scalar) of the dataset, wherever it sits in the structure.
#[derive(Debug, Clone, PartialEq)]
pub struct DdsVar {
    /// How a constraint expression names it: `air.air` for a Grid's array, `s.x` in a Structure.
    pub path: String,
    /// The variable's name in the table: a Grid's name, else the path.
    pub name: String,
    pub ty: DapType,
    /// (dimension name, size); an anonymous dimension is named `<name>_dim<i>`.
    pub dims: Vec<(String, u64)>,
    /// Whether it is a map (coordinate) of a Grid.
    pub map: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Word(String),
    Str(String),
    Punct(char),
}

/// Splits DDS/DAS text into words (names, types, numbers), quoted strings and `{}[];=:,`.
pub fn tokens(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = vec![];
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if "{}[];=:,".contains(c) {
            out.push(Tok::Punct(c));
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    None => return Err("a string is not closed".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e) => s.push(e),
                        None => return Err("a string is not closed".into()),
                    },
                    Some(ch) => s.push(ch),
                }
            }
            out.push(Tok::Str(s));
        } else if c == '#' {
            // A comment, to the end of the line.
            for ch in chars.by_ref() {
                if ch == '\n' {
                    break;
                }
            }
        } else {
            let mut w = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || "{}[];=:,\"".contains(ch) {
                    break;
                }
                w.push(ch);
                chars.next();
            }
            out.push(Tok::Word(w));
        }
    }
    Ok(out)
}

/// A cursor over tokens with errors that say where parsing stopped.
pub struct Cursor {
    toks: Vec<Tok>,
    at: usize,
}

impl Cursor {
    pub fn new(toks: Vec<Tok>) -> Self {
        Cursor { toks, at: 0 }
    }

    pub fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    pub fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    pub fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    pub fn expect(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Punct(p)) if p == c => Ok(()),
            other => Err(format!("expected `{c}`, found {}", show(other.as_ref()))),
        }
    }

    pub fn word(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            other => Err(format!("expected a name, found {}", show(other.as_ref()))),
        }
    }
}

pub fn show(t: Option<&Tok>) -> String {
    match t {
        None => "the end".into(),
        Some(Tok::Word(w)) => format!("`{w}`"),
        Some(Tok::Str(s)) => format!("\"{s}\""),
        Some(Tok::Punct(p)) => format!("`{p}`"),
    }
}

/// The arrays a DDS declares, in order.
pub fn parse(text: &str) -> Result<Vec<DdsVar>, String> {
    let mut c = Cursor::new(tokens(text)?);
    match c.word()? {
        w if w.eq_ignore_ascii_case("dataset") => {}
        other => return Err(format!("expected `Dataset`, found `{other}`")),
    }
    c.expect('{')?;
    let mut out = vec![];
    declarations(&mut c, "", &mut out)?;
    c.expect('}')?;
    Ok(out)
}

/// Declarations up to the closing `}` of their container (not consumed).
fn declarations(c: &mut Cursor, prefix: &str, out: &mut Vec<DdsVar>) -> Result<(), String> {
    while !c.is_punct('}') {
        if c.peek().is_none() {
            return Err("the structure is not closed".into());
        }
        declaration(c, prefix, out)?;
    }
    Ok(())
}

fn declaration(c: &mut Cursor, prefix: &str, out: &mut Vec<DdsVar>) -> Result<(), String> {
    let kind = c.word()?;
    match kind.to_ascii_lowercase().as_str() {
        "structure" | "sequence" => {
            c.expect('{')?;
            let mut inner = vec![];
            declarations(c, "", &mut inner)?;
            c.expect('}')?;
            let name = c.word()?;
            c.expect(';')?;
            // Sequences are tables of records with no fixed shape: not arrays.
            if kind.eq_ignore_ascii_case("structure") {
                for mut v in inner {
                    v.path = join(prefix, &format!("{name}.{}", v.path));
                    v.name = join(prefix, &format!("{name}.{}", v.name));
                    out.push(v);
                }
            }
        }
        "grid" => {
            c.expect('{')?;
            let mut parts = vec![];
            let mut is_map = false;
            while !c.is_punct('}') {
                match c.peek() {
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("array") => {
                        c.next();
                        c.expect(':')?;
                        is_map = false;
                    }
                    Some(Tok::Word(w)) if w.eq_ignore_ascii_case("maps") => {
                        c.next();
                        c.expect(':')?;
                        is_map = true;
                    }
                    None => return Err("a Grid is not closed".into()),
                    _ => {
                        let mut one = vec![];
                        declaration(c, "", &mut one)?;
                        parts.extend(one.into_iter().map(|mut v| {
                            v.map = is_map;
                            v
                        }));
                    }
                }
            }
            c.expect('}')?;
            let name = c.word()?;
            c.expect(';')?;
            for mut v in parts {
                v.path = join(prefix, &format!("{name}.{}", v.path));
                if !v.map {
                    v.name = join(prefix, &name);
                }
                out.push(v);
            }
        }
        _ => {
            let ty = DapType::parse(&kind).ok_or_else(|| format!("unknown type `{kind}`"))?;
            let name = c.word()?;
            let mut dims = vec![];
            while c.is_punct('[') {
                c.next();
                let first = c.word()?;
                let (dim, size) = if c.is_punct('=') {
                    c.next();
                    (first, c.word()?)
                } else {
                    (format!("{name}_dim{}", dims.len()), first)
                };
                let size: u64 = size
                    .parse()
                    .map_err(|_| format!("`{name}`: dimension size `{size}` is not a number"))?;
                c.expect(']')?;
                dims.push((dim, size));
            }
            c.expect(';')?;
            out.push(DdsVar {
                path: join(prefix, &name),
                name: join(prefix, &name),
                ty,
                dims,
                map: false,
            });
        }
    }
    Ok(())
}

fn join(prefix: &str, name: &str) -> String {
    match prefix {
        "" => name.to_string(),
        p => format!("{p}{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DDS: &str = "Dataset {
    Grid {
        Array:
            Float32 air[time = 10][lat = 7];
        Maps:
            Int32 time[time = 10];
            Float64 lat[lat = 7];
    } air;
    Int32 time[time = 10];
    Byte flags[4][2];
    Structure {
        Int16 x[n = 3];
        String label;
    } s;
    Sequence { Int32 a; } seq;
    Float64 scalar;
} grid_nc4%2Enc;";

    #[test]
    fn grids_arrays_structures_and_scalars_parse() {
        let vars = parse(DDS).expect("parses");
        let names: Vec<(&str, &str, bool)> = vars
            .iter()
            .map(|v| (v.path.as_str(), v.name.as_str(), v.map))
            .collect();
        assert_eq!(
            names,
            [
                ("air.air", "air", false),
                ("air.time", "time", true),
                ("air.lat", "lat", true),
                ("time", "time", false),
                ("flags", "flags", false),
                ("s.x", "s.x", false),
                ("s.label", "s.label", false),
                ("scalar", "scalar", false),
            ]
        );
        assert_eq!(vars[0].ty, DapType::Float32);
        assert_eq!(
            vars[0].dims,
            [("time".to_string(), 10), ("lat".to_string(), 7)]
        );
        assert_eq!(
            vars[4].dims,
            [("flags_dim0".to_string(), 4), ("flags_dim1".to_string(), 2)]
        );
        assert!(vars[7].dims.is_empty());
    }

    #[test]
    fn malformed_dds_says_where() {
        let e = parse("Dataset { Float32 x[t = ten]; } d;").expect_err("bad size");
        assert!(e.contains("ten"), "{e}");
        let e = parse("Dataset { Complex64 x; } d;").expect_err("bad type");
        assert!(e.contains("Complex64"), "{e}");
        let e = parse("Dataset { Int32 x;").expect_err("unclosed");
        assert!(e.contains("not closed"), "{e}");
        assert!(parse("<html>").is_err());
    }
}
