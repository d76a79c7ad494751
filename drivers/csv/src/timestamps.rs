//! Timestamp columns without a time zone (or in UTC) parsed from text quickly. arrow-csv parses
//! every value with `string_to_datetime`, which tries many formats; CSV files nearly always
//! hold one: `YYYY-MM-DD HH:MM:SS[.fraction]` (or with `T`). Parallel reads decode such columns
//! as text and convert them here: that form directly, anything else through the same
//! `string_to_datetime` arrow-csv uses, so the values are the same. A value neither accepts
//! fails the block, which is then decoded again by arrow-csv for its exact error message.

use std::sync::Arc;

use arrow_array::types::{
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use arrow_array::{Array, ArrayRef, PrimitiveArray, StringArray};
use arrow_schema::{ArrowError, DataType, TimeUnit};

/// Whether `data_type` is converted here: timestamps without a zone, or in UTC (arrow-csv
/// reads both as UTC).
pub(crate) fn handled(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Timestamp(_, tz) if tz.as_deref().is_none_or(|z| z == "UTC"))
}

/// `text` as `data_type` (one that [`handled`] accepts).
pub(crate) fn convert(text: &ArrayRef, data_type: &DataType) -> Result<ArrayRef, ArrowError> {
    let DataType::Timestamp(unit, tz) = data_type else {
        return Err(ArrowError::CastError(format!(
            "not a timestamp type: {data_type}"
        )));
    };
    let strings = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| ArrowError::CastError("timestamps were not decoded as text".into()))?;
    // Rows of a file mostly share a few dates: the last one's day number is kept.
    let mut last_date = LastDate::default();
    let mut values = Vec::with_capacity(strings.len());
    for i in 0..strings.len() {
        values.push(if strings.is_null(i) {
            0
        } else {
            value(strings.value(i), *unit, &mut last_date)?
        });
    }
    let (values, nulls) = (values.into(), strings.nulls().cloned());
    Ok(match unit {
        TimeUnit::Second => with_tz(
            PrimitiveArray::<TimestampSecondType>::new(values, nulls),
            tz,
        ),
        TimeUnit::Millisecond => with_tz(
            PrimitiveArray::<TimestampMillisecondType>::new(values, nulls),
            tz,
        ),
        TimeUnit::Microsecond => with_tz(
            PrimitiveArray::<TimestampMicrosecondType>::new(values, nulls),
            tz,
        ),
        TimeUnit::Nanosecond => with_tz(
            PrimitiveArray::<TimestampNanosecondType>::new(values, nulls),
            tz,
        ),
    })
}

fn with_tz<T: arrow_array::types::ArrowTimestampType>(
    a: PrimitiveArray<T>,
    tz: &Option<Arc<str>>,
) -> ArrayRef {
    Arc::new(a.with_timezone_opt(tz.clone()))
}

/// The date part of the last value in the common form, and its day number.
#[derive(Default)]
struct LastDate {
    text: [u8; 10],
    days: Option<i64>,
}

/// One value in `unit`, as arrow-csv computes it from chrono's seconds and sub-second nanos.
fn value(s: &str, unit: TimeUnit, last: &mut LastDate) -> Result<i64, ArrowError> {
    let (secs, nanos) = match common_form(s.as_bytes(), last) {
        Some(parsed) => parsed,
        None => {
            let t = arrow_cast::parse::string_to_datetime(&chrono::Utc, s)?;
            (t.timestamp(), i64::from(t.timestamp_subsec_nanos()))
        }
    };
    let overflow = || ArrowError::ParseError(format!("{s} would overflow 64-bit signed {unit:?}s"));
    match unit {
        TimeUnit::Second => Ok(secs),
        TimeUnit::Millisecond => secs
            .checked_mul(1_000)
            .and_then(|v| v.checked_add(nanos / 1_000_000))
            .ok_or_else(overflow),
        TimeUnit::Microsecond => secs
            .checked_mul(1_000_000)
            .and_then(|v| v.checked_add(nanos / 1_000))
            .ok_or_else(overflow),
        TimeUnit::Nanosecond => secs
            .checked_mul(1_000_000_000)
            .and_then(|v| v.checked_add(nanos))
            .ok_or_else(overflow),
    }
}

/// Two ASCII digits at `at`.
fn two(b: &[u8], at: usize) -> Option<i64> {
    let (h, l) = (b[at].wrapping_sub(b'0'), b[at + 1].wrapping_sub(b'0'));
    (h < 10 && l < 10).then(|| i64::from(h * 10 + l))
}

/// `YYYY-MM-DD[ T]HH:MM:SS[.f]` (1 to 9 fraction digits), a valid date and time: seconds since
/// the epoch and nanoseconds; None for anything else.
fn common_form(b: &[u8], last: &mut LastDate) -> Option<(i64, i64)> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = match last.days {
        Some(days) if last.text == b[..10] => days,
        _ => {
            let (year, month, day) = (two(b, 0)? * 100 + two(b, 2)?, two(b, 5)?, two(b, 8)?);
            if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
                return None;
            }
            let days = days_from_civil(year, month, day);
            last.text.copy_from_slice(&b[..10]);
            last.days = Some(days);
            days
        }
    };
    let (hour, minute, second) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let mut v = 0i64;
            for &d in digits {
                let d = d.wrapping_sub(b'0');
                if d >= 10 {
                    return None;
                }
                v = v * 10 + i64::from(d);
            }
            v * 10i64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    Some((days * 86_400 + hour * 3_600 + minute * 60 + second, nanos))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_form_agrees_with_string_to_datetime() {
        let samples = [
            "1970-01-01 00:00:00",
            "2024-01-01 00:00:00.143034",
            "2024-02-29T23:59:59.999999999",
            "1969-12-31 23:59:59.5",
            "1900-03-01 12:00:00.1",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.123456789",
            "2000-02-29 01:02:03.04",
        ];
        for s in samples {
            let t = arrow_cast::parse::string_to_datetime(&chrono::Utc, s).expect(s);
            assert_eq!(
                common_form(s.as_bytes(), &mut LastDate::default()),
                Some((t.timestamp(), i64::from(t.timestamp_subsec_nanos()))),
                "{s}"
            );
        }
        // Not the common form: handled by string_to_datetime, or an error there too.
        for s in [
            "2023-02-29 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 00:00:00Z",
            "2024-01-01 00:00:00+02:00",
            "2024-01-01",
            "2024-1-01 00:00:00",
            "2024-01-01 00:00:00.",
            "2024-01-01 00:00:00.1234567890",
        ] {
            assert_eq!(
                common_form(s.as_bytes(), &mut LastDate::default()),
                None,
                "{s}"
            );
        }
    }

    #[test]
    fn columns_convert_like_arrow_csv_with_the_slow_path_and_errors() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("2024-01-01 00:00:00.5"),
            None,
            Some("2024-01-01T00:00:00+01:00"),
            Some("2024-01-02"),
        ]));
        let ty = DataType::Timestamp(TimeUnit::Millisecond, None);
        let got = convert(&text, &ty).expect("convert");
        let got = got
            .as_any()
            .downcast_ref::<PrimitiveArray<TimestampMillisecondType>>()
            .expect("ms");
        let day = 19_723 * 86_400_000;
        assert_eq!(got.value(0), day + 500);
        assert!(got.is_null(1));
        assert_eq!(got.value(2), day - 3_600_000);
        assert_eq!(got.value(3), day + 86_400_000);
        let utc = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        assert!(handled(&utc) && handled(&ty));
        assert!(!handled(&DataType::Timestamp(
            TimeUnit::Second,
            Some("Europe/Paris".into())
        )));
        assert_eq!(convert(&text, &utc).expect("utc").data_type(), &utc);
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["yesterday"]));
        assert!(convert(&bad, &ty).is_err());
    }
}
