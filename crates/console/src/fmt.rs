//! Short human renderings of sizes, ages and durations for table cells.

use chrono::{DateTime, Utc};

/// `1.5 GiB`, `12 KiB`, `0 B`.
pub fn bytes(n: u64) -> String {
    humansize::format_size(n, humansize::BINARY.decimal_places(1))
}

/// `ls -h` style, at most 5 characters: `343B`, `9.5K`, `709K`, `1.8M`.
pub fn short_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64;
    for unit in ["K", "M", "G", "T", "P"] {
        v /= 1024.0;
        if v < 1023.5 || unit == "P" {
            return if v < 9.95 {
                format!("{v:.1}{unit}")
            } else {
                format!("{v:.0}{unit}")
            };
        }
    }
    unreachable!("the loop returns at P")
}

/// `42s`, `3m 12s`, `5h 02m`, `3d 4h`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".into();
    }
    lifeboat_engine::units::duration(secs.round().min(i64::MAX as f64) as i64)
}

/// Age of `t` at `now`, e.g. `3h 12m ago`; future times say so.
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    if secs < 0 {
        format!("in the future ({})", duration(-secs as f64))
    } else {
        format!("{} ago", duration(secs as f64))
    }
}

/// Time until `t`, e.g. `in 3h 12m`.
pub fn until(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("in {}", duration((t - now).num_seconds().max(0) as f64))
}

/// A number of minutes as `1h 00m` / `45m 00s`.
pub fn minutes(m: u32) -> String {
    duration(f64::from(m) * 60.0)
}

/// The catalog's stored timestamp text as `2026-11-26 02:00`.
pub fn stored_ts(s: &str) -> String {
    if s.len() >= 16 {
        format!("{} {}", &s[..10], &s[11..16])
    } else {
        s.to_string()
    }
}

/// `12.3 MiB/s`.
pub fn rate(bytes_per_sec: f64) -> String {
    format!("{}/s", bytes(bytes_per_sec.max(0.0) as u64))
}

/// Cut `s` to at most `width` characters, marking the cut with `~`.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('~');
    out
}

/// `s` as plain text for a screen cell: terminal escape sequences (CSI
/// such as colours and cursor moves, OSC such as titles and hyperlinks,
/// DCS/APC/PM/SOS strings, two-byte escapes, and their one-character C1
/// forms) are taken out, tabs become spaces to the next 8-column stop,
/// and any other control character is dropped. (Left in, an escape shows
/// as garbage: the screen buffer drops the ESC itself and draws the rest,
/// `[1;32m`.)
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut col = 0usize;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => {
                let n = 8 - col % 8;
                out.extend(std::iter::repeat_n(' ', n));
                col += n;
            }
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // nF escapes (`ESC ( B`): intermediates, then one final.
                Some(' '..='/') => {
                    while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
                    chars.next();
                }
                // Any other escape is ESC and one character (`ESC 7`, `ESC =`).
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_control() => {}
            c => {
                out.push(c);
                col += 1;
            }
        }
    }
    out
}

/// The rest of a CSI sequence: parameter and intermediate bytes, then the
/// final byte (`@` to `~`).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars>) {
    while chars
        .next_if(|c| matches!(c, '0'..='?' | ' '..='/'))
        .is_some()
    {}
    chars.next_if(|c| matches!(c, '@'..='~'));
}

/// The rest of an OSC, DCS, SOS, PM or APC string: up to BEL, ST
/// (`ESC \` or U+009C), or the end of the line.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(5.0), "5s");
        assert_eq!(duration(192.0), "3m 12s");
        assert_eq!(duration(3.0 * 3600.0 + 120.0), "3h 02m");
        assert_eq!(duration(2.0 * 86_400.0 + 7200.0), "2d 2h");
        assert_eq!(
            stored_ts("2026-11-26T02:00:00.000000000Z"),
            "2026-11-26 02:00"
        );
        assert_eq!(clip("abcdef", 4), "abc~");
        assert_eq!(short_bytes(343), "343B");
        assert_eq!(short_bytes(9728), "9.5K");
        assert_eq!(short_bytes(726_528), "710K");
        assert_eq!(short_bytes(1_887_436), "1.8M");
    }
}
