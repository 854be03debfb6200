//! Durations and sizes for people, in one format wherever lifeboat shows
//! one (the CLI, the wizards, health checks, recovery reports; the console
//! shows sizes with one decimal place).

/// A byte count: `1.18 GiB`.
pub fn size(n: u64) -> String {
    humansize::format_size(n, humansize::BINARY)
}

/// `42s`, `3m 12s`, `5h 02m`, `3d 4h`; negative counts as zero.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    let (d, h, m, sec) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(192), "3m 12s");
        assert_eq!(duration(3600), "1h 00m");
        assert_eq!(duration(3725), "1h 02m");
        assert_eq!(duration(6 * 3600), "6h 00m");
        assert_eq!(duration(2 * 86_400 + 7200), "2d 2h");
    }
}
