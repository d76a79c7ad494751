//! numpy element types (`descr` strings such as `<f8`, `>i2`, `|S10`, `<M8[ns]`) and their
//! decoding into Arrow arrays, as pandas and pyarrow show them.

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, Float16Array, PrimitiveArray, StringArray, StructArray,
};
use arrow_buffer::{BooleanBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Fields, TimeUnit};

/// An element type the driver reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Int,
    UInt,
    Float,
    /// Two floats of half the size: served as `struct<real, imag>`.
    Complex,
    /// datetime64 (`M8`): a count of `scale` x `unit` since 1970-01-01; NaT is null.
    DateTime {
        unit: TimeUnit,
        scale: i64,
    },
    /// timedelta64 (`m8`): a count of `scale` x `unit`; NaT is null.
    TimeDelta {
        unit: TimeUnit,
        scale: i64,
    },
    /// `S<n>`: bytes, trailing NULs stripped (as numpy shows them).
    Bytes,
    /// `U<n>`: UCS-4 text, trailing NULs stripped.
    Unicode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DType {
    pub kind: Kind,
    /// Bytes per element.
    size: usize,
    big_endian: bool,
}

impl DType {
    /// Parses a `descr` string; errors say what numpy type it is and why it is not read.
    pub fn parse(descr: &str) -> Result<DType, String> {
        let (order, rest) = match descr.chars().next() {
            Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
            _ => ('=', descr),
        };
        let big_endian = order == '>' || (order == '=' && cfg!(target_endian = "big"));
        let code = rest
            .chars()
            .next()
            .ok_or_else(|| "an empty dtype".to_string())?;
        let body = &rest[code.len_utf8()..];
        let (digits, unit) = match body.split_once('[') {
            Some((d, u)) => (d, Some(u.trim_end_matches(']'))),
            None => (body, None),
        };
        let n: usize = if digits.is_empty() {
            0
        } else {
            digits
                .parse()
                .map_err(|_| format!("dtype `{descr}` does not parse"))?
        };
        let sized = |kind, allowed: &[usize]| {
            if allowed.contains(&n) {
                Ok(DType {
                    kind,
                    size: n,
                    big_endian,
                })
            } else {
                Err(format!(
                    "dtype `{descr}` has an element size numpy does not write"
                ))
            }
        };
        match code {
            'b' => sized(Kind::Bool, &[1]),
            'i' => sized(Kind::Int, &[1, 2, 4, 8]),
            'u' => sized(Kind::UInt, &[1, 2, 4, 8]),
            'f' => sized(Kind::Float, &[2, 4, 8]),
            'c' => sized(Kind::Complex, &[8, 16]),
            'M' | 'm' => {
                let unit = unit.ok_or_else(|| {
                    format!("dtype `{descr}` is a generic datetime without a unit")
                })?;
                let (unit, scale) = time_unit(unit).ok_or_else(|| {
                    format!(
                        "dtype `{descr}`: the unit `{unit}` has no Arrow equivalent (read: D, h, m, s, ms, us, ns and multiples)"
                    )
                })?;
                let kind = if code == 'M' {
                    Kind::DateTime { unit, scale }
                } else {
                    Kind::TimeDelta { unit, scale }
                };
                sized(kind, &[8])
            }
            'S' | 'a' if n > 0 => Ok(DType {
                kind: Kind::Bytes,
                size: n,
                big_endian,
            }),
            'U' if n > 0 => Ok(DType {
                kind: Kind::Unicode,
                size: n * 4,
                big_endian,
            }),
            'O' => Err(
                "its dtype is object (`O`): pickled object arrays cannot be read without Python; \
                 save the array with a fixed dtype (`arr.astype(str)` or a number type)"
                    .into(),
            ),
            'V' => Err(format!(
                "dtype `{descr}` is raw void bytes, which the numpy driver does not read"
            )),
            _ => Err(format!("dtype `{descr}` is not one the numpy driver reads")),
        }
    }

    pub fn itemsize(&self) -> usize {
        self.size
    }

    pub fn arrow(&self) -> DataType {
        match (self.kind, self.size) {
            (Kind::Bool, _) => DataType::Boolean,
            (Kind::Int, 1) => DataType::Int8,
            (Kind::Int, 2) => DataType::Int16,
            (Kind::Int, 4) => DataType::Int32,
            (Kind::Int, _) => DataType::Int64,
            (Kind::UInt, 1) => DataType::UInt8,
            (Kind::UInt, 2) => DataType::UInt16,
            (Kind::UInt, 4) => DataType::UInt32,
            (Kind::UInt, _) => DataType::UInt64,
            (Kind::Float, 2) => DataType::Float16,
            (Kind::Float, 4) => DataType::Float32,
            (Kind::Float, _) => DataType::Float64,
            (Kind::Complex, n) => {
                let part = if n == 8 {
                    DataType::Float32
                } else {
                    DataType::Float64
                };
                DataType::Struct(complex_fields(part))
            }
            (Kind::DateTime { unit, .. }, _) => DataType::Timestamp(unit, None),
            (Kind::TimeDelta { unit, .. }, _) => DataType::Duration(unit),
            (Kind::Bytes, _) => DataType::Binary,
            (Kind::Unicode, _) => DataType::Utf8,
        }
    }

    /// `bytes` (whole elements, C order, as stored) as an Arrow array; Err names a bad value.
    pub fn decode(&self, bytes: &[u8]) -> Result<ArrayRef, String> {
        let n = bytes.len() / self.size.max(1);
        Ok(match (self.kind, self.size) {
            (Kind::Bool, _) => Arc::new(BooleanArray::new(
                BooleanBuffer::collect_bool(n, |i| bytes[i] != 0),
                None,
            )),
            (Kind::Int, 1) => self.prim::<Int8Type, 1>(bytes, i8::from_le_bytes, i8::from_be_bytes),
            (Kind::Int, 2) => {
                self.prim::<Int16Type, 2>(bytes, i16::from_le_bytes, i16::from_be_bytes)
            }
            (Kind::Int, 4) => {
                self.prim::<Int32Type, 4>(bytes, i32::from_le_bytes, i32::from_be_bytes)
            }
            (Kind::Int, _) => {
                self.prim::<Int64Type, 8>(bytes, i64::from_le_bytes, i64::from_be_bytes)
            }
            (Kind::UInt, 1) => {
                self.prim::<UInt8Type, 1>(bytes, u8::from_le_bytes, u8::from_be_bytes)
            }
            (Kind::UInt, 2) => {
                self.prim::<UInt16Type, 2>(bytes, u16::from_le_bytes, u16::from_be_bytes)
            }
            (Kind::UInt, 4) => {
                self.prim::<UInt32Type, 4>(bytes, u32::from_le_bytes, u32::from_be_bytes)
            }
            (Kind::UInt, _) => {
                self.prim::<UInt64Type, 8>(bytes, u64::from_le_bytes, u64::from_be_bytes)
            }
            (Kind::Float, 2) => {
                let bits = self.values::<2, u16>(bytes, u16::from_le_bytes, u16::from_be_bytes);
                Arc::new(Float16Array::from(
                    bits.into_iter()
                        .map(half::f16::from_bits)
                        .collect::<Vec<_>>(),
                ))
            }
            (Kind::Float, 4) => {
                self.prim::<Float32Type, 4>(bytes, f32::from_le_bytes, f32::from_be_bytes)
            }
            (Kind::Float, _) => {
                self.prim::<Float64Type, 8>(bytes, f64::from_le_bytes, f64::from_be_bytes)
            }
            (Kind::Complex, 8) => {
                self.complex::<Float32Type, 4>(bytes, f32::from_le_bytes, f32::from_be_bytes)
            }
            (Kind::Complex, _) => {
                self.complex::<Float64Type, 8>(bytes, f64::from_le_bytes, f64::from_be_bytes)
            }
            (Kind::DateTime { unit, scale }, _) => {
                let v = self.times(bytes, scale);
                match unit {
                    TimeUnit::Second => Arc::new(PrimitiveArray::<TimestampSecondType>::from(v)),
                    TimeUnit::Millisecond => {
                        Arc::new(PrimitiveArray::<TimestampMillisecondType>::from(v))
                    }
                    TimeUnit::Microsecond => {
                        Arc::new(PrimitiveArray::<TimestampMicrosecondType>::from(v))
                    }
                    TimeUnit::Nanosecond => {
                        Arc::new(PrimitiveArray::<TimestampNanosecondType>::from(v))
                    }
                }
            }
            (Kind::TimeDelta { unit, scale }, _) => {
                let v = self.times(bytes, scale);
                match unit {
                    TimeUnit::Second => Arc::new(PrimitiveArray::<DurationSecondType>::from(v)),
                    TimeUnit::Millisecond => {
                        Arc::new(PrimitiveArray::<DurationMillisecondType>::from(v))
                    }
                    TimeUnit::Microsecond => {
                        Arc::new(PrimitiveArray::<DurationMicrosecondType>::from(v))
                    }
                    TimeUnit::Nanosecond => {
                        Arc::new(PrimitiveArray::<DurationNanosecondType>::from(v))
                    }
                }
            }
            (Kind::Bytes, size) => Arc::new(BinaryArray::from_iter_values(
                bytes.chunks_exact(size).map(trim_nul),
            )),
            (Kind::Unicode, size) => {
                let mut out = Vec::with_capacity(n);
                let mut s = String::new();
                for (i, e) in bytes.chunks_exact(size).enumerate() {
                    s.clear();
                    for unit in e.chunks_exact(4) {
                        let arr = [unit[0], unit[1], unit[2], unit[3]];
                        let cp = if self.big_endian {
                            u32::from_be_bytes(arr)
                        } else {
                            u32::from_le_bytes(arr)
                        };
                        let c = char::from_u32(cp).ok_or_else(|| {
                            format!("element {i} holds {cp:#x}, not a Unicode code point")
                        })?;
                        s.push(c);
                    }
                    out.push(s.trim_end_matches('\0').to_string());
                }
                Arc::new(StringArray::from(out))
            }
        })
    }

    fn values<const N: usize, T>(
        &self,
        bytes: &[u8],
        le: fn([u8; N]) -> T,
        be: fn([u8; N]) -> T,
    ) -> Vec<T> {
        let f = if self.big_endian { be } else { le };
        bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }

    fn prim<A: ArrowPrimitiveType, const N: usize>(
        &self,
        bytes: &[u8],
        le: fn([u8; N]) -> A::Native,
        be: fn([u8; N]) -> A::Native,
    ) -> ArrayRef {
        let v = self.values::<N, A::Native>(bytes, le, be);
        Arc::new(PrimitiveArray::<A>::new(ScalarBuffer::from(v), None))
    }

    fn complex<A: ArrowPrimitiveType, const N: usize>(
        &self,
        bytes: &[u8],
        le: fn([u8; N]) -> A::Native,
        be: fn([u8; N]) -> A::Native,
    ) -> ArrayRef {
        let v = self.values::<N, A::Native>(bytes, le, be);
        let re: Vec<A::Native> = v.iter().step_by(2).copied().collect();
        let im: Vec<A::Native> = v.iter().skip(1).step_by(2).copied().collect();
        let fields = complex_fields(A::DATA_TYPE);
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(PrimitiveArray::<A>::new(ScalarBuffer::from(re), None)),
            Arc::new(PrimitiveArray::<A>::new(ScalarBuffer::from(im), None)),
        ];
        Arc::new(StructArray::new(fields, arrays, None))
    }

    /// datetime64/timedelta64 counts in the Arrow unit; NaT (i64::MIN) and overflow are null.
    fn times(&self, bytes: &[u8], scale: i64) -> Vec<Option<i64>> {
        self.values::<8, i64>(bytes, i64::from_le_bytes, i64::from_be_bytes)
            .into_iter()
            .map(|v| (v != i64::MIN).then(|| v.checked_mul(scale)).flatten())
            .collect()
    }
}

fn complex_fields(part: DataType) -> Fields {
    Fields::from(vec![
        Field::new("real", part.clone(), true),
        Field::new("imag", part, true),
    ])
}

fn trim_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|x| *x != 0).map_or(0, |i| i + 1);
    &b[..end]
}

/// numpy's `[unit]` (with an optional multiplier, `[10s]`) -> an Arrow unit and a factor.
/// Days, hours and minutes become seconds, as pandas 2 converts them.
fn time_unit(u: &str) -> Option<(TimeUnit, i64)> {
    let split = u.find(|c: char| !c.is_ascii_digit()).unwrap_or(u.len());
    let mult: i64 = if split == 0 {
        1
    } else {
        u[..split].parse().ok()?
    };
    let (unit, f) = match &u[split..] {
        "W" => (TimeUnit::Second, 7 * 86_400),
        "D" => (TimeUnit::Second, 86_400),
        "h" => (TimeUnit::Second, 3_600),
        "m" => (TimeUnit::Second, 60),
        "s" => (TimeUnit::Second, 1),
        "ms" => (TimeUnit::Millisecond, 1),
        "us" | "μs" => (TimeUnit::Microsecond, 1),
        "ns" => (TimeUnit::Nanosecond, 1),
        _ => return None,
    };
    Some((unit, mult.checked_mul(f)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    #[test]
    fn descrs_parse() {
        assert_eq!(DType::parse("<f8").expect("f8").arrow(), DataType::Float64);
        assert_eq!(DType::parse(">i2").expect("i2").arrow(), DataType::Int16);
        assert_eq!(DType::parse("|S7").expect("S").itemsize(), 7);
        assert_eq!(DType::parse("<U3").expect("U").itemsize(), 12);
        assert_eq!(
            DType::parse("<M8[D]").expect("M8").arrow(),
            DataType::Timestamp(TimeUnit::Second, None)
        );
        assert!(DType::parse("|O").expect_err("O").contains("pickled"));
        assert!(DType::parse("<M8").is_err());
        assert!(DType::parse("<M8[Y]").is_err());
        assert!(DType::parse("<f3").is_err());
    }

    #[test]
    fn big_endian_and_nat() {
        let d = DType::parse(">i4").expect("i4");
        let a = d.decode(&[0, 0, 1, 0, 255, 255, 255, 255]).expect("decode");
        let a = a
            .as_any()
            .downcast_ref::<arrow_array::Int32Array>()
            .expect("i32");
        assert_eq!(a.values().to_vec(), vec![256, -1]);
        let d = DType::parse("<m8[ms]").expect("m8");
        let mut b = 5i64.to_le_bytes().to_vec();
        b.extend(i64::MIN.to_le_bytes());
        let a = d.decode(&b).expect("decode");
        assert_eq!(a.null_count(), 1);
    }
}
