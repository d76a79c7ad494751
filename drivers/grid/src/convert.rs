//! Decoded chunk bytes (native endian, C order) -> Arrow arrays, applying a [`Column`]'s CF
//! decoding. Plain columns are zero-copy slices of the decoded buffer.

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::{ArrayRef, ArrowPrimitiveType, BooleanArray, PrimitiveArray};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer};

use crate::cf::{Column, Decode, Fill, Raw};

/// A stored element type.
trait Elem: Copy + PartialEq + Send + Sync + 'static {
    fn from_fill(f: Fill) -> Option<Self>;
    fn is_nan(self) -> bool;
    fn to_f64(self) -> f64;
    fn to_i64(self) -> Option<i64>;
}

macro_rules! int_elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn from_fill(f: Fill) -> Option<Self> {
                match f {
                    Fill::Int(i) => <$t>::try_from(i).ok(),
                    Fill::Float(x) if x.fract() == 0.0 && x.is_finite() => <$t>::try_from(x as i128).ok(),
                    Fill::Float(_) => None,
                }
            }
            fn is_nan(self) -> bool { false }
            fn to_f64(self) -> f64 { self as f64 }
            fn to_i64(self) -> Option<i64> { i64::try_from(self).ok() }
        }
    )*};
}
int_elem!(i8, i16, i32, i64, u8, u16, u32, u64);

macro_rules! float_elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn from_fill(f: Fill) -> Option<Self> {
                match f {
                    Fill::Int(i) => Some(i as $t),
                    Fill::Float(x) => Some(x as $t),
                }
            }
            fn is_nan(self) -> bool { <$t>::is_nan(self) }
            fn to_f64(self) -> f64 { self as f64 }
            fn to_i64(self) -> Option<i64> { None }
        }
    )*};
}
float_elem!(f32, f64);

/// Which values are valid: None when all are (no null buffer needed).
fn validity<T: Elem>(values: &[T], col: &Column) -> Option<NullBuffer> {
    let fills: Vec<T> = col.fills.iter().filter_map(|f| T::from_fill(*f)).collect();
    let nan_fill = col
        .fills
        .iter()
        .any(|f| matches!(f, Fill::Float(x) if x.is_nan()));
    let check_nan = col.nan_null || nan_fill;
    if fills.is_empty() && !check_nan {
        return None;
    }
    let valid = BooleanBuffer::collect_bool(values.len(), |i| {
        let v = values[i];
        !(fills.contains(&v) || check_nan && v.is_nan())
    });
    let nulls = NullBuffer::new(valid);
    (nulls.null_count() > 0).then_some(nulls)
}

fn convert<A>(col: &Column, buf: &Buffer, offset: usize, len: usize) -> ArrayRef
where
    A: ArrowPrimitiveType,
    A::Native: Elem,
{
    let values: ScalarBuffer<A::Native> = ScalarBuffer::new(buf.clone(), offset, len);
    let nulls = validity(&values, col);
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    match col.decode {
        Decode::Plain => Arc::new(PrimitiveArray::<A>::new(values, nulls)),
        Decode::Scaled { scale, offset } => {
            let out: ScalarBuffer<f64> =
                values.iter().map(|v| v.to_f64() * scale + offset).collect();
            Arc::new(PrimitiveArray::<Float64Type>::new(out, nulls))
        }
        Decode::Time { unit_us, epoch_us } => {
            let micros = |v: A::Native| -> Option<i64> {
                match v.to_i64() {
                    Some(i) => i.checked_mul(unit_us)?.checked_add(epoch_us),
                    None => {
                        let us = (v.to_f64() * unit_us as f64).round();
                        (us.is_finite() && us.abs() < 9.0e18).then(|| us as i64 + epoch_us)
                    }
                }
            };
            let out: PrimitiveArray<TimestampMicrosecondType> = values
                .iter()
                .enumerate()
                .map(|(i, v)| if valid(i) { micros(*v) } else { None })
                .collect();
            Arc::new(out)
        }
        Decode::Bool => {
            let bits = BooleanBuffer::collect_bool(len, |i| values[i].to_f64() != 0.0);
            Arc::new(BooleanArray::new(bits, nulls))
        }
    }
}

/// `len` elements from element `offset` of `buf`, decoded as `col` says. `buf` holds native
/// endian elements of `col.raw`, aligned (it comes from an arrow `MutableBuffer`).
pub fn to_arrow(col: &Column, buf: &Buffer, offset: usize, len: usize) -> ArrayRef {
    match col.raw {
        Raw::Bool => {
            let bytes = &buf.as_slice()[offset..offset + len];
            let bits = BooleanBuffer::collect_bool(len, |i| bytes[i] != 0);
            Arc::new(BooleanArray::new(bits, None))
        }
        Raw::I8 => convert::<Int8Type>(col, buf, offset, len),
        Raw::I16 => convert::<Int16Type>(col, buf, offset, len),
        Raw::I32 => convert::<Int32Type>(col, buf, offset, len),
        Raw::I64 => convert::<Int64Type>(col, buf, offset, len),
        Raw::U8 => convert::<UInt8Type>(col, buf, offset, len),
        Raw::U16 => convert::<UInt16Type>(col, buf, offset, len),
        Raw::U32 => convert::<UInt32Type>(col, buf, offset, len),
        Raw::U64 => convert::<UInt64Type>(col, buf, offset, len),
        Raw::F32 => convert::<Float32Type>(col, buf, offset, len),
        Raw::F64 => convert::<Float64Type>(col, buf, offset, len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float64Array, TimestampMicrosecondArray};

    fn buffer<T: arrow_buffer::ArrowNativeType>(v: &[T]) -> Buffer {
        Buffer::from_slice_ref(v)
    }

    #[test]
    fn fill_values_mask_then_scale() {
        let col = Column {
            raw: Raw::I16,
            decode: Decode::Scaled {
                scale: 0.01,
                offset: 5.0,
            },
            fills: vec![Fill::Int(-32768)],
            nan_null: false,
        };
        let a = to_arrow(&col, &buffer(&[0i16, -32768, 100]), 1, 2);
        let a = a.as_any().downcast_ref::<Float64Array>().expect("f64");
        assert!(a.is_null(0));
        assert_eq!(a.value(1), 100f64 * 0.01 + 5.0);
    }

    #[test]
    fn times_and_nan() {
        let col = Column {
            raw: Raw::F64,
            decode: Decode::Time {
                unit_us: 86_400_000_000,
                epoch_us: 0,
            },
            fills: vec![],
            nan_null: true,
        };
        let a = to_arrow(&col, &buffer(&[1.5f64, f64::NAN]), 0, 2);
        let a = a
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("ts");
        assert_eq!(a.value(0), 129_600_000_000);
        assert!(a.is_null(1));
    }
}
