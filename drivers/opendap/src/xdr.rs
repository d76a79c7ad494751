//! DAP2 binary responses (`.dods`): the constrained DDS, `Data:`, then the values in XDR
//! (big-endian; each array prefixed by its length twice; Byte arrays packed and padded to 4
//! bytes; 16-bit integers sent as 32). And DAP2 error bodies: `Error { code = ..; message = ..; };`.

use arrow_buffer::{Buffer, MutableBuffer};
use inlet_grid::Raw;

use crate::dds::{self, DapType};

/// A DAP2 error body: (code, message), when `body` is one. The message runs from its opening
/// quote to the last `";` (some servers leave quotes inside it unescaped).
pub fn dap_error(body: &[u8]) -> Option<(Option<i64>, String)> {
    let head = &body[..body.len().min(64 * 1024)];
    let text = String::from_utf8_lossy(head);
    let rest = text.trim_start().strip_prefix("Error")?.trim_start();
    if !rest.starts_with('{') {
        return None;
    }
    let field = |name: &str| -> Option<&str> {
        let lower = rest.to_ascii_lowercase();
        let at = lower.find(name)? + name.len();
        rest[at..]
            .trim_start()
            .strip_prefix('=')
            .map(str::trim_start)
    };
    let code = field("code").and_then(|v| {
        let digits: String = v
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '-')
            .collect();
        digits.parse().ok()
    });
    let message = match field("message") {
        Some(v) if v.starts_with('"') => {
            let inner = &v[1..];
            let end = inner.rfind("\";").unwrap_or(inner.len());
            inner[..end].replace("\\\"", "\"").replace("\\\\", "\\")
        }
        Some(v) => v.split(';').next().unwrap_or_default().to_string(),
        None => String::new(),
    };
    Some((code, message))
}

/// The values of the one array a `.dods` response for `path[hyperslab]` holds, as `count`
/// native-endian elements of the column type `raw`.
pub fn decode(body: &[u8], ty: DapType, raw: Raw, count: u64) -> Result<Buffer, String> {
    const MARK: &[u8] = b"\nData:\n";
    let at = body
        .windows(MARK.len())
        .position(|w| w == MARK)
        .ok_or("no `Data:` section: not a DAP2 data response")?;
    let dds_text =
        std::str::from_utf8(&body[..at]).map_err(|_| "the response's DDS is not text")?;
    let vars = dds::parse(dds_text).map_err(|e| format!("the response's DDS: {e}"))?;
    let [var] = vars.as_slice() else {
        return Err(format!(
            "expected one array in the response, found {}",
            vars.len()
        ));
    };
    let declared: u64 = var.dims.iter().map(|d| d.1).product();
    if declared != count || var.ty != ty {
        return Err(format!(
            "asked for {count} values of type {ty:?}, the server sent {declared} of type {:?}",
            var.ty
        ));
    }
    let data = &body[at + MARK.len()..];
    let size = ty.xdr_size().ok_or("strings are not read")?;
    let n = count as usize;
    if data.len() < 8 {
        return Err("the data ends before the array's length".into());
    }
    let len = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    if u64::from(len(0)) != count || u64::from(len(4)) != count {
        return Err(format!(
            "the array's length is {} (and {}), expected {count}",
            len(0),
            len(4)
        ));
    }
    let values = &data[8..];
    if values.len() < n * size {
        return Err(format!(
            "the data ends after {} of {} bytes",
            values.len(),
            n * size
        ));
    }
    let values = &values[..n * size];
    let mut out = MutableBuffer::with_capacity(n * raw.size());
    macro_rules! each {
        ($w:literal, $conv:expr) => {
            for c in values.chunks_exact($w) {
                let b: [u8; $w] = c.try_into().map_err(|_| "short element")?;
                out.push($conv(b));
            }
        };
    }
    match (ty, raw.size()) {
        (DapType::Byte, 1) => out.extend_from_slice(values),
        (DapType::Int16 | DapType::UInt16, 2) => {
            each!(4, |b| u32::from_be_bytes(b) as u16)
        }
        (DapType::Int32 | DapType::UInt32 | DapType::Float32, 4) => {
            each!(4, u32::from_be_bytes)
        }
        (DapType::Float64, 8) => each!(8, u64::from_be_bytes),
        _ => return Err(format!("type {ty:?} does not read as {raw:?}")),
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(dds: &str, data: &[u8]) -> Vec<u8> {
        let mut b = dds.as_bytes().to_vec();
        b.extend_from_slice(b"\nData:\n");
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn arrays_of_each_width_decode_to_native_values() {
        let dds = "Dataset { Structure { Int16 x[a = 1][b = 2]; } x; } d;";
        let mut data = vec![0, 0, 0, 2, 0, 0, 0, 2];
        data.extend((-3i32).to_be_bytes());
        data.extend(7i32.to_be_bytes());
        let buf = decode(&response(dds, &data), DapType::Int16, Raw::I16, 2).expect("decodes");
        assert_eq!(buf.typed_data::<i16>(), [-3, 7]);

        let dds = "Dataset { Byte f[n = 3]; } d;";
        let data = [0, 0, 0, 3, 0, 0, 0, 3, 1, 255, 3, 0];
        let buf = decode(&response(dds, &data), DapType::Byte, Raw::U8, 3).expect("bytes");
        assert_eq!(buf.as_slice(), [1, 255, 3]);

        let dds = "Dataset { Float64 v[n = 1]; } d;";
        let mut data = vec![0, 0, 0, 1, 0, 0, 0, 1];
        data.extend(2.5f64.to_be_bytes());
        let buf = decode(&response(dds, &data), DapType::Float64, Raw::F64, 1).expect("f64");
        assert_eq!(buf.typed_data::<f64>(), [2.5]);
    }

    #[test]
    fn short_or_mismatched_responses_are_errors() {
        let dds = "Dataset { Float32 v[n = 2]; } d;";
        let data = [0, 0, 0, 2, 0, 0, 0, 2, 0, 0];
        let e = decode(&response(dds, &data), DapType::Float32, Raw::F32, 2).expect_err("short");
        assert!(e.contains("ends"), "{e}");
        let e = decode(&response(dds, &data), DapType::Float32, Raw::F32, 3).expect_err("count");
        assert!(e.contains("asked for 3"), "{e}");
        assert!(decode(b"<html>", DapType::Float32, Raw::F32, 1).is_err());
    }

    #[test]
    fn error_bodies_parse() {
        let body = b"Error {\n    code = 1005;\n    message = \"Bad \\\"constraint\\\"\";\n};";
        assert_eq!(
            dap_error(body),
            Some((Some(1005), "Bad \"constraint\"".into()))
        );
        assert_eq!(dap_error(b"Dataset {"), None);
        let body = b"Error {\n code = -1;\n message = \"File \"x.py\", line 3\";\n};";
        assert_eq!(
            dap_error(body),
            Some((Some(-1), "File \"x.py\", line 3".into()))
        );
    }
}
