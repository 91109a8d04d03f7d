//! Wall-clock text for the tools: the timestamps Kafka's tools print, and Kafka's ISO 8601 datetimes
//! (`--to-datetime`) parsed to epoch milliseconds. Everything is UTC: potok carries no time zone database, and
//! Kafka's own parser reads a datetime without an offset as UTC as well.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::bail;

const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the epoch.
fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// (year, month, day) of a day number counted from 1970-01-01 (Howard Hinnant's days-to-civil).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The day number of a civil date (Howard Hinnant's days-from-civil).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `yyyy-MM-dd HH:mm:ss` then `separator` and milliseconds.
fn format(ms: i64, separator: char) -> String {
    let (days, ms_of_day) = (ms.div_euclid(MS_PER_DAY), ms.rem_euclid(MS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}{separator}{:03}",
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000
    )
}

/// The perf tools' `yyyy-MM-dd HH:mm:ss:SSS`.
pub fn perf_timestamp(at: SystemTime) -> String {
    format(epoch_ms(at), ':')
}

/// The `[yyyy-MM-dd HH:mm:ss,SSS]` that starts a line of Kafka's tool logs.
pub fn log_timestamp(at: SystemTime) -> String {
    format!("[{}]", format(epoch_ms(at), ','))
}

/// Epoch milliseconds of Kafka's `yyyy-MM-dd'T'HH:mm:ss.SSS`, optionally followed by `Z`, `+HH`, `+HHmm` or
/// `+HH:mm` (or `-`); without an offset the time is UTC, as in Kafka's `Utils.getDateTime`.
pub fn parse_datetime(text: &str) -> anyhow::Result<i64> {
    let bad = || {
        anyhow::anyhow!("Error parsing timestamp '{text}': expected yyyy-MM-dd'T'HH:mm:ss.SSS, optionally with Z or an offset such as +01:00")
    };
    let Some((date, time)) = text.split_once('T') else {
        bail!("Error parsing timestamp '{text}'. It does not contain a 'T' according to ISO8601 format")
    };
    let number = |s: &str, digits: usize| -> anyhow::Result<i64> {
        if s.len() != digits || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    let mut date_parts = date.split('-');
    let (Some(y), Some(mo), Some(d), None) =
        (date_parts.next(), date_parts.next(), date_parts.next(), date_parts.next())
    else {
        return Err(bad());
    };
    let (year, month, day) = (number(y, 4)?, number(mo, 2)?, number(d, 2)?);
    let (clock, offset_ms) = match time.find(['Z', '+', '-']) {
        None => (time, 0),
        Some(at) => {
            let (clock, zone) = time.split_at(at);
            let offset = match zone {
                "Z" => 0,
                _ => {
                    let sign = if zone.starts_with('-') { -1 } else { 1 };
                    let digits = zone[1..].replace(':', "");
                    let (hours, minutes) = match digits.len() {
                        2 => (number(&digits, 2)?, 0),
                        4 => (number(&digits[..2], 2)?, number(&digits[2..], 2)?),
                        _ => return Err(bad()),
                    };
                    if zone[1..].contains(':') && zone.len() != 6 {
                        return Err(bad());
                    }
                    sign * (hours * 3_600_000 + minutes * 60_000)
                }
            };
            (clock, offset)
        }
    };
    let Some((hms, millis)) = clock.split_once('.') else { return Err(bad()) };
    let mut hms_parts = hms.split(':');
    let (Some(h), Some(mi), Some(s), None) = (hms_parts.next(), hms_parts.next(), hms_parts.next(), hms_parts.next())
    else {
        return Err(bad());
    };
    let (hour, minute, second, milli) = (number(h, 2)?, number(mi, 2)?, number(s, 2)?, number(millis, 3)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let local =
        days_from_civil(year, month, day) * MS_PER_DAY + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli;
    Ok(local - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_format_like_kafka() {
        assert_eq!(perf_timestamp(UNIX_EPOCH), "1970-01-01 00:00:00:000");
        // 2024-02-29 13:45:06.789 UTC, a leap day.
        let leap = UNIX_EPOCH + Duration::from_millis(1_709_214_306_789);
        assert_eq!(perf_timestamp(leap), "2024-02-29 13:45:06:789");
        assert_eq!(log_timestamp(leap), "[2024-02-29 13:45:06,789]");
    }

    #[test]
    fn datetimes_parse_as_kafka_parses_them() {
        assert_eq!(parse_datetime("2024-02-29T13:45:06.789").unwrap(), 1_709_214_306_789);
        assert_eq!(parse_datetime("2024-02-29T13:45:06.789Z").unwrap(), 1_709_214_306_789);
        assert_eq!(parse_datetime("2024-02-29T14:45:06.789+01:00").unwrap(), 1_709_214_306_789);
        assert_eq!(parse_datetime("2024-02-29T14:45:06.789+0100").unwrap(), 1_709_214_306_789);
        assert_eq!(parse_datetime("2024-02-29T11:45:06.789-02").unwrap(), 1_709_214_306_789);
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000").unwrap(), 0);
        for bad in ["2024-02-29", "2024-02-30T00:00:00.000", "2024-02-29T13:45:06", "2024-2-29T13:45:06.789", "x"] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
    }
}
