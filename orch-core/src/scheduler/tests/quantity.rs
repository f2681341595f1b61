//! Quantity values: CPU in millicores, memory in bytes, rounding up.
use crate::scheduler::quantity::{parse_milli, parse_value};

#[test]
fn cpu_in_millicores() {
    for (s, want) in [
        ("100m", 100),
        ("2", 2000),
        ("0.5", 500),
        ("1.5", 1500),
        (".1", 100),
        ("250m", 250),
        ("1k", 1_000_000),
        ("1e3", 1_000_000),
        ("1u", 1),
        ("100n", 1),
        ("0", 0),
        ("+3", 3000),
        ("1.0001", 1001),
    ] {
        assert_eq!(parse_milli(s), Some(want), "{s}");
    }
}

#[test]
fn memory_in_bytes() {
    for (s, want) in [
        ("128Mi", 128 * 1024 * 1024),
        ("1G", 1_000_000_000),
        ("1Gi", 1 << 30),
        ("1.5Gi", 3 << 29),
        ("512", 512),
        ("1M", 1_000_000),
        ("1Ki", 1024),
        ("2Ti", 2 << 40),
        ("1e9", 1_000_000_000),
        ("1E-2", 1),
        ("100m", 1),
        ("0.5Ki", 512),
    ] {
        assert_eq!(parse_value(s), Some(want), "{s}");
    }
}

#[test]
fn malformed_is_none_and_huge_saturates() {
    for s in [
        "", "abc", "1..2", "1KB", "1 Gi", "Gi", ".", "1e", "--1", "1mi",
    ] {
        assert_eq!(parse_value(s), None, "{s}");
    }
    assert_eq!(parse_value("99999999999999999999999E"), Some(i64::MAX));
    assert_eq!(parse_value("-1"), Some(-1));
}
