//! The `.npy` header: the magic string, the format version, and a Python dict literal with
//! `descr` (the element type), `fortran_order` and `shape`.
//!
//! The literal is parsed here (about a hundred lines) rather than through `npyz` or
//! `ndarray-npy`: both read whole arrays through `std::io::Read`, while this driver reads byte
//! ranges over object storage, so only their header parsers would be used, and they bring
//! `py_literal` (with `pest` and `num-bigint`) for it.

use crate::dtype::DType;

/// `\x93NUMPY`
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy refuses headers above 10,000 bytes unless told otherwise; this is ample for any shape.
pub const MAX_HEADER: u64 = 1 << 20;

/// What a header says.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub version: (u8, u8),
    pub dtype: DType,
    /// The dtype as written (`<f8`, `|S10`).
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Where the data starts.
    pub data_offset: u64,
}

impl Header {
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }

    pub fn data_bytes(&self) -> u64 {
        self.elements() * self.dtype.itemsize() as u64
    }
}

/// The prefix's verdict: the header's total length (magic, version, length field, dict), or why
/// the bytes are not an `.npy` file.
pub fn header_len(prefix: &[u8]) -> Result<u64, String> {
    if prefix.len() < 10 || &prefix[..6] != MAGIC {
        return Err("not a .npy file (no `\\x93NUMPY` magic at its start)".into());
    }
    match prefix[6] {
        1 => Ok(10 + u64::from(u16::from_le_bytes([prefix[8], prefix[9]]))),
        2 | 3 if prefix.len() >= 12 => Ok(12
            + u64::from(u32::from_le_bytes([
                prefix[8], prefix[9], prefix[10], prefix[11],
            ]))),
        2 | 3 => Err("the header is cut short".into()),
        v => Err(format!(
            "format version {v}.{} is not one numpy writes (1.0, 2.0, 3.0)",
            prefix[7]
        )),
    }
}

/// Why a header cannot be read.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderError {
    /// Not a valid `.npy` header.
    Corrupt(String),
    /// A valid header of an array the driver does not read (object, structured, void).
    Unsupported(String),
}

impl HeaderError {
    pub fn message(&self) -> &str {
        match self {
            HeaderError::Corrupt(m) | HeaderError::Unsupported(m) => m,
        }
    }
}

/// Parses the whole header (`bytes` holds at least [`header_len`] bytes).
pub fn parse(bytes: &[u8]) -> Result<Header, HeaderError> {
    parse_inner(bytes).map_err(|(unsupported, m)| {
        if unsupported {
            HeaderError::Unsupported(m)
        } else {
            HeaderError::Corrupt(m)
        }
    })
}

fn parse_inner(bytes: &[u8]) -> Result<Header, (bool, String)> {
    let c = |m: String| (false, m);
    let len = header_len(bytes).map_err(c)?;
    let (major, minor) = (bytes[6], bytes[7]);
    let start = if major == 1 { 10 } else { 12 };
    let end = usize::try_from(len).map_err(|_| c("the header is too long".to_string()))?;
    let dict = bytes
        .get(start..end)
        .ok_or_else(|| c("the header is cut short".to_string()))?;
    // Versions 1 and 2 are latin-1, 3 is UTF-8 (field names of structured types).
    let text: String = if major == 3 {
        String::from_utf8(dict.to_vec()).map_err(|_| c("the header is not UTF-8".to_string()))?
    } else {
        dict.iter().map(|b| char::from(*b)).collect()
    };
    let value = Parser::new(&text).document().map_err(c)?;
    let Lit::Dict(items) = value else {
        return Err(c(format!("the header is not a dict: {}", text.trim())));
    };
    let get = |key: &str| {
        items
            .iter()
            .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
            .map(|(_, v)| v)
            .ok_or_else(|| c(format!("the header has no `{key}`: {}", text.trim())))
    };
    let descr = match get("descr")? {
        Lit::Str(s) => s.clone(),
        Lit::List(_) => {
            return Err((
                true,
                "its dtype is structured (record fields), which the numpy driver does not read"
                    .into(),
            ))
        }
        other => return Err(c(format!("`descr` is not a dtype string: {other:?}"))),
    };
    let fortran_order = match get("fortran_order")? {
        Lit::Bool(b) => *b,
        other => return Err(c(format!("`fortran_order` is not True/False: {other:?}"))),
    };
    let shape = match get("shape")? {
        Lit::List(items) => items
            .iter()
            .map(|i| match i {
                Lit::Int(n) => Ok(*n),
                other => Err(format!("`shape` holds {other:?}, not a length")),
            })
            .collect::<Result<Vec<u64>, String>>()
            .map_err(c)?,
        other => return Err(c(format!("`shape` is not a tuple: {other:?}"))),
    };
    shape
        .iter()
        .try_fold(1u64, |acc, n| acc.checked_mul(*n))
        .ok_or_else(|| {
            c(format!(
                "shape {shape:?} has more elements than fit in 64 bits"
            ))
        })?;
    Ok(Header {
        version: (major, minor),
        dtype: DType::parse(&descr).map_err(|m| (true, m))?,
        descr,
        fortran_order,
        shape,
        data_offset: len,
    })
}

/// The Python literals a header holds.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Int(u64),
    Bool(bool),
    None,
    /// Tuples and lists alike.
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            chars: text.chars().peekable(),
            depth: 0,
        }
    }

    fn document(&mut self) -> Result<Lit, String> {
        let v = self.value()?;
        self.skip_ws();
        match self.chars.next() {
            None => Ok(v),
            Some(c) => Err(format!("unexpected `{c}` after the header's dict")),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.peek().is_some_and(|c| c.is_whitespace()) {
            self.chars.next();
        }
    }

    fn expect(&mut self, want: char) -> Result<(), String> {
        self.skip_ws();
        match self.chars.next() {
            Some(c) if c == want => Ok(()),
            Some(c) => Err(format!("expected `{want}` in the header, found `{c}`")),
            None => Err(format!("expected `{want}`, the header ended")),
        }
    }

    fn value(&mut self) -> Result<Lit, String> {
        self.skip_ws();
        self.depth += 1;
        if self.depth > 32 {
            return Err("the header nests too deeply".into());
        }
        let v = match self.chars.peek().copied() {
            Some('{') => self.dict(),
            Some('(') => self.seq(')'),
            Some('[') => self.seq(']'),
            Some(q @ ('\'' | '"')) => self.string(q),
            Some(c) if c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => self.word(),
            Some(c) => Err(format!("unexpected `{c}` in the header")),
            None => Err("the header ended early".into()),
        };
        self.depth -= 1;
        v
    }

    fn dict(&mut self) -> Result<Lit, String> {
        self.chars.next();
        let mut items = vec![];
        loop {
            self.skip_ws();
            if self.chars.peek() == Some(&'}') {
                self.chars.next();
                return Ok(Lit::Dict(items));
            }
            let k = self.value()?;
            self.expect(':')?;
            let v = self.value()?;
            items.push((k, v));
            self.skip_ws();
            match self.chars.next() {
                Some(',') => {}
                Some('}') => return Ok(Lit::Dict(items)),
                other => {
                    return Err(format!(
                        "expected `,` or `}}` in the header, found {other:?}"
                    ))
                }
            }
        }
    }

    fn seq(&mut self, close: char) -> Result<Lit, String> {
        self.chars.next();
        let mut items = vec![];
        loop {
            self.skip_ws();
            if self.chars.peek() == Some(&close) {
                self.chars.next();
                return Ok(Lit::List(items));
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.chars.next() {
                Some(',') => {}
                Some(c) if c == close => return Ok(Lit::List(items)),
                other => {
                    return Err(format!(
                        "expected `,` or `{close}` in the header, found {other:?}"
                    ))
                }
            }
        }
    }

    fn string(&mut self, quote: char) -> Result<Lit, String> {
        self.chars.next();
        let mut s = String::new();
        loop {
            match self.chars.next() {
                Some(c) if c == quote => return Ok(Lit::Str(s)),
                Some('\\') => match self.chars.next() {
                    Some(c) => s.push(c),
                    None => return Err("a string in the header is not closed".into()),
                },
                Some(c) => s.push(c),
                None => return Err("a string in the header is not closed".into()),
            }
        }
    }

    fn int(&mut self) -> Result<Lit, String> {
        let mut digits = String::new();
        while let Some(c) = self.chars.peek().copied().filter(char::is_ascii_digit) {
            digits.push(c);
            self.chars.next();
        }
        // Python 2 wrote longs as `3L`.
        if matches!(self.chars.peek(), Some('L' | 'l')) {
            self.chars.next();
        }
        digits
            .parse()
            .map(Lit::Int)
            .map_err(|_| format!("`{digits}` in the header is not a length"))
    }

    fn word(&mut self) -> Result<Lit, String> {
        let mut w = String::new();
        while let Some(c) = self
            .chars
            .peek()
            .copied()
            .filter(|c| c.is_ascii_alphanumeric())
        {
            w.push(c);
            self.chars.next();
        }
        match w.as_str() {
            "True" => Ok(Lit::Bool(true)),
            "False" => Ok(Lit::Bool(false)),
            "None" => Ok(Lit::None),
            other => Err(format!("unexpected `{other}` in the header")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dict: &str) -> Vec<u8> {
        let mut v = MAGIC.to_vec();
        v.extend([1, 0]);
        v.extend((dict.len() as u16).to_le_bytes());
        v.extend(dict.as_bytes());
        v
    }

    #[test]
    fn headers_as_numpy_writes_them() {
        let h = parse(&file(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }   \n",
        ))
        .expect("header");
        assert_eq!(h.shape, vec![3, 4]);
        assert!(!h.fortran_order);
        assert_eq!(h.descr, "<f8");
        let h = parse(&file(
            "{'descr': '|b1', 'fortran_order': True, 'shape': (), }",
        ))
        .expect("0-d");
        assert!(h.shape.is_empty() && h.fortran_order);
        let h = parse(&file(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (5L,)}",
        ))
        .expect("py2 long");
        assert_eq!(h.shape, vec![5]);
    }

    #[test]
    fn bad_headers_say_why() {
        assert!(parse(b"PK\x03\x04 not npy").is_err());
        let e = parse(&file(
            "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (1,)}",
        ))
        .expect_err("structured");
        assert!(
            matches!(&e, HeaderError::Unsupported(m) if m.contains("structured")),
            "{e:?}"
        );
        let e = parse(&file("{'descr': '<f8', 'shape': (1,)}")).expect_err("no order");
        assert!(e.message().contains("fortran_order"), "{e:?}");
        let e = parse(&file(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1,",
        ))
        .expect_err("cut");
        assert!(e.message().contains("ended"), "{e:?}");
        let deep = format!("{}{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&file(&deep)).is_err());
    }
}
