//! The sim's clock: wall time plus an offset that the test bench can advance, so that token,
//! code and device-code expiry can be tested without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn new(offset_ms: i64) -> Self {
        Clock {
            offset_ms: AtomicI64::new(offset_ms),
        }
    }

    /// Milliseconds since the Unix epoch, as the sim sees it.
    pub fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Seconds since the Unix epoch, as the sim sees it.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    pub fn advance(&self, seconds: i64) {
        self.offset_ms.fetch_add(seconds * 1000, Ordering::Relaxed);
    }

    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}

/// `90.00:00:00` style (days.hours:minutes:seconds), as Entra prints durations.
pub fn duration_text(secs: i64) -> String {
    format!(
        "{}.{:02}:{:02}:{:02}",
        secs / 86400,
        (secs % 86400) / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// `2024-05-01T10:00:00Z` (whole seconds, UTC), as Graph prints DateTimeOffset values.
pub fn iso(secs: i64) -> String {
    match iso_bytes(secs) {
        Some(b) => String::from_utf8(b.to_vec()).expect("ascii"),
        None => chrono::DateTime::from_timestamp(secs, 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    }
}

/// [`iso`] for the years 0000-9999 without chrono's formatter (delta pages write thousands of
/// dates); None outside them (chrono writes a sign there, or the epoch when out of range).
pub fn iso_bytes(secs: i64) -> Option<[u8; 20]> {
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    if !(-62_167_219_200..=253_402_300_799).contains(&secs) {
        return None;
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let mut b = *b"0000-00-00T00:00:00Z";
    let two = |b: &mut [u8; 20], at: usize, v: i64| {
        b[at] = b'0' + (v / 10) as u8;
        b[at + 1] = b'0' + (v % 10) as u8;
    };
    two(&mut b, 0, y / 100);
    two(&mut b, 2, y % 100);
    two(&mut b, 5, m);
    two(&mut b, 8, d);
    two(&mut b, 11, rem / 3600);
    two(&mut b, 14, rem % 3600 / 60);
    two(&mut b, 17, rem % 60);
    Some(b)
}

/// `2024-05-01T10:00:00` (no zone), the `innerError.date` format.
pub fn iso_nozone(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// `2025-01-02 16:21:38Z`, the format of `timestamp` in Entra error bodies.
pub fn aad_timestamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%SZ")
        .to_string()
}

/// RFC 2822 date for mail headers.
pub fn rfc2822(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .to_rfc2822()
}

/// Parses an ISO 8601 date-time (with `Z` or an offset, or without zone = UTC).
pub fn parse_iso(s: &str) -> Option<i64> {
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp());
    }
    let s = s.trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d.and_utc().timestamp());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::iso;

    fn chrono_iso(secs: i64) -> String {
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    #[test]
    fn iso_writes_what_chrono_writes() {
        let mut checked = 0;
        let edges = [
            0,
            -1,
            1,
            -62_167_219_201,
            -62_167_219_200,
            -62_135_596_800,
            951_782_399,
            951_782_400,
            951_868_800,
            4_107_542_400,
            253_402_300_799,
            253_402_300_800,
            i64::MIN,
            i64::MAX,
            i64::MAX / 1000,
        ];
        for t in edges {
            assert_eq!(iso(t), chrono_iso(t), "{t}");
            checked += 1;
        }
        // Every day from 1600 to 2500 at a varying time of day, and a coarse sweep of the rest.
        let mut t = -11_676_096_000i64;
        while t < 16_725_225_600 {
            assert_eq!(iso(t), chrono_iso(t), "{t}");
            t += 86_400 + 3_607;
            checked += 1;
        }
        let mut t = -70_000_000_000i64;
        while t < 260_000_000_000 {
            assert_eq!(iso(t), chrono_iso(t), "{t}");
            t += 9_999_991;
            checked += 1;
        }
        assert!(checked > 40_000);
    }
}
