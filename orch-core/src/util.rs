//! Small file helpers shared by the server and the CLI.
use std::{fs, io, io::Write, path::Path};

/// Writes `data` to `path` atomically (temp file + rename) with mode 0600.
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// A stable 32-bit FNV-1a hash as 8 hex digits, for short unique names
/// (interface names are limited to 15 bytes).
pub fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hash_is_stable_and_short() {
        assert_eq!(short_hash(""), "811c9dc5");
        assert_eq!(short_hash("node-1"), short_hash("node-1"));
        assert_ne!(short_hash("node-1"), short_hash("node-2"));
        assert_eq!(short_hash("x").len(), 8);
    }
}
