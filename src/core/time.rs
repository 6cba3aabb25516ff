//! RFC 3339 timestamps, parsed by hand into milliseconds since the Unix epoch
//! (a date library would cost more bundle than these few lines).

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type EpochMillis = i64;

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`. `t`, `z` and a
/// space separator are accepted as RFC 3339 allows. `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<EpochMillis> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    let num = |from: usize, len: usize| digits(b, from, len);
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let (millis, i) = fraction(b, 19)?;
    let offset_minutes = offset(b, i)?;
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

/// Digits of `b` from `from`, as a number.
fn digits(b: &[u8], from: usize, len: usize) -> Option<i64> {
    let part = b.get(from..from + len)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(part.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

/// The fraction of a second at `i` (`.123`, any number of digits, at least
/// one), as milliseconds, and where what follows it starts.
fn fraction(b: &[u8], mut i: usize) -> Option<(i64, usize)> {
    let mut millis = 0i64;
    if b.get(i) != Some(&b'.') {
        return Some((0, i));
    }
    let start = i + 1;
    i = start;
    while i < b.len() && b[i].is_ascii_digit() {
        if i - start < 3 {
            millis = millis * 10 + i64::from(b[i] - b'0');
        }
        i += 1;
    }
    let count = i - start;
    if count == 0 {
        return None;
    }
    for _ in count..3 {
        millis *= 10;
    }
    Some((millis, i))
}

/// The UTC offset at `i`, which must end the text: `Z`, or `+hh:mm`/`-hh:mm`, in minutes.
fn offset(b: &[u8], i: usize) -> Option<i64> {
    match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => Some(0),
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (digits(b, i + 1, 2)?, digits(b, i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            Some(if *sign == b'+' { m } else { -m })
        }
        _ => None,
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (the catalog's dates).
pub fn parse_date(s: &str) -> Option<i64> {
    parse_rfc3339(&format!("{s}T00:00:00Z")).map(|ms| ms.div_euclid(DAY_MS))
}

/// Days since 1970-01-01 of an instant.
pub fn day_of(ms: EpochMillis) -> i64 {
    ms.div_euclid(DAY_MS)
}

const DAY_MS: i64 = 86_400_000;

/// `YYYY-MM-DDTHH:MM:SSZ` for milliseconds since the epoch (UTC, whole seconds).
pub fn format_rfc3339(ms: EpochMillis) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Inverse of days_from_civil (Howard Hinnant's civil_from_days).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_example() {
        // 2025-03-13T03:15:45.000Z
        assert_eq!(parse_rfc3339("2025-03-13T03:15:45.000Z"), Some(1_741_835_745_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2025-03-13T05:15:45.5+02:00"),
            Some(1_741_835_745_500)
        );
        assert_eq!(
            parse_rfc3339("2025-03-12T22:15:45.123456-05:00"),
            Some(1_741_835_745_123)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
    }

    #[test]
    fn formats_and_round_trips() {
        assert_eq!(format_rfc3339(1_741_835_745_000), "2025-03-13T03:15:45Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        for ms in [951_782_400_000i64, 1_709_164_800_000, 4_102_444_799_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2025-03-13",
            "2025-03-13T03:15:45",
            "2025-13-13T03:15:45Z",
            "2023-02-29T00:00:00Z",
            "2025-03-13T24:00:00Z",
            "2025-03-13T03:15:45.Z",
            "2025-03-13T03:15:45+0200",
            "2025-03-13T03:15:45Zjunk",
            "yesterday at noon, roughly",
            "2025-03-13T03:15:45.000\u{e9}",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
