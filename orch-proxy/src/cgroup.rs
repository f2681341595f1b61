//! Finding the cgroup v2 hierarchy and bpffs, wherever the host mounted them.
use std::{fs, path::PathBuf};

use crate::{sys, ProxyError};

/// Default mount point of bpffs.
pub const BPFFS: &str = "/sys/fs/bpf";

/// One line of `/proc/self/mountinfo`, reduced to what we need.
struct Mount {
    point: PathBuf,
    fstype: String,
}

fn mounts() -> Result<Vec<Mount>, ProxyError> {
    let text = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| ProxyError::io("reading", "/proc/self/mountinfo", e))?;
    Ok(text.lines().filter_map(parse_mountinfo_line).collect())
}

/// Parses `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`.
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let mut fields = line.split(' ');
    let point = fields.nth(4)?;
    let mut rest = fields.skip_while(|f| *f != "-");
    rest.next()?;
    let fstype = rest.next()?;
    Some(Mount {
        point: PathBuf::from(unescape(point)),
        fstype: fstype.to_string(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The root of the cgroup v2 hierarchy: `/sys/fs/cgroup` on a pure v2 host,
/// `/sys/fs/cgroup/unified` on a hybrid one.
pub fn cgroup2_root() -> Result<PathBuf, ProxyError> {
    let all = mounts()?;
    let mut v2: Vec<PathBuf> = all
        .into_iter()
        .filter(|m| m.fstype == "cgroup2")
        .map(|m| m.point)
        .collect();
    v2.sort_by_key(|p| p.components().count());
    v2.into_iter().next().ok_or(ProxyError::NoCgroup2)
}

/// Makes sure bpffs is mounted at [`BPFFS`], mounting it if it is not.
pub fn ensure_bpffs() -> Result<PathBuf, ProxyError> {
    let path = PathBuf::from(BPFFS);
    if mounts()?
        .iter()
        .any(|m| m.fstype == "bpf" && m.point == path)
    {
        return Ok(path);
    }
    sys::mount_bpffs(&path).map_err(|e| ProxyError::io("mounting bpffs at", &path, e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cgroup2_line() {
        let m = parse_mountinfo_line(
            "35 24 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
        )
        .unwrap();
        assert_eq!(m.point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m.fstype, "cgroup2");
    }

    #[test]
    fn parses_optional_fields_and_escapes() {
        let m = parse_mountinfo_line(
            "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw",
        )
        .unwrap();
        assert_eq!(m.point, PathBuf::from("/mnt two"));
        assert_eq!(m.fstype, "ext3");
    }

    #[test]
    fn rejects_truncated_line() {
        assert!(parse_mountinfo_line("36 35 98:0").is_none());
        assert!(parse_mountinfo_line("36 35 98:0 / /x rw no-separator").is_none());
    }
}
