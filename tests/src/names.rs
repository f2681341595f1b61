//! Unique, short names for test resources (pid + counter), so two test runs
//! or two tests in one run never collide. Interface names stay within the
//! kernel's 15-byte limit.
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Returns `<prefix><pid in hex><counter in hex>`, at most 15 bytes for a
/// prefix of up to 4 bytes.
pub fn unique_name(prefix: &str) -> String {
    assert!(
        prefix.len() <= 4,
        "prefix {prefix:?} is longer than 4 bytes"
    );
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}x{:x}", std::process::id(), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_short() {
        let a = unique_name("ot");
        let b = unique_name("ot");
        assert_ne!(a, b);
        assert!(a.len() <= 15, "{a}");
        assert!(a.starts_with("ot"));
    }
}
