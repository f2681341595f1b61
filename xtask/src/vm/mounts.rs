//! Mounts below a directory: found in `/proc/self/mountinfo`, removed by a
//! guard on drop (debootstrap mounts proc and sys inside the root file
//! system it builds and can leave them behind when it fails), and checked
//! before a directory tree is deleted, so a deletion never walks into a
//! mounted file system.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Result};

use crate::step;

/// Mount points at or below `dir` in mountinfo text, deepest first (the
/// order to unmount them in).
pub fn points_under(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points at or below `dir` right now.
pub fn under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    points_under(&info, &dir)
}

/// Unmounts everything at or below `dir`; a busy mount is detached lazily.
/// Fails naming what is still mounted.
pub fn unmount_all(dir: &Path) -> Result<()> {
    for p in under(dir) {
        step::info(&format!("unmounting {}", p.display()));
        if !step::succeeds(Command::new("umount").arg(&p)) {
            let _ = step::succeeds(Command::new("umount").arg("-l").arg(&p));
        }
    }
    let left = under(dir);
    if !left.is_empty() {
        let list: Vec<String> = left.iter().map(|p| p.display().to_string()).collect();
        bail!("still mounted: {}", list.join(", "));
    }
    Ok(())
}

/// Deletes a directory tree after making sure nothing is mounted in it.
pub fn remove_tree(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    unmount_all(dir)?;
    std::fs::remove_dir_all(dir).map_err(|e| anyhow::anyhow!("removing {}: {e}", dir.display()))
}

/// Unmounts whatever is below its directory when dropped, also on error.
#[derive(Debug)]
pub struct Guard {
    dir: PathBuf,
}

impl Guard {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = unmount_all(&self.dir) {
            println!("warning: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:5 / /proc rw shared:2 - proc proc rw
81 22 0:50 / /t/vm/root rw shared:3 - ext4 /dev/loop0 rw
82 81 0:51 / /t/vm/root/proc rw shared:4 - proc proc rw
83 82 0:52 / /t/vm/root/proc/sys/fs/binfmt_misc rw - binfmt_misc x rw
84 81 0:53 / /t/vm/root\\040dir rw - tmpfs tmpfs rw
85 22 0:54 / /t/vm/rootfs rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_mounts_below_deepest_first() {
        let got = points_under(INFO, Path::new("/t/vm/root"));
        assert_eq!(
            got,
            vec![
                PathBuf::from("/t/vm/root/proc/sys/fs/binfmt_misc"),
                PathBuf::from("/t/vm/root/proc"),
                PathBuf::from("/t/vm/root"),
            ]
        );
    }

    #[test]
    fn a_sibling_with_a_common_prefix_is_not_below() {
        let got = points_under(INFO, Path::new("/t/vm/rootfs"));
        assert_eq!(got, vec![PathBuf::from("/t/vm/rootfs")]);
        assert!(points_under(INFO, Path::new("/t/other")).is_empty());
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape("/t/vm/root\\040dir"), "/t/vm/root dir");
        assert_eq!(unescape("/a\\\\b"), "/a\\\\b");
        assert_eq!(unescape("/plain"), "/plain");
        let got = points_under(INFO, Path::new("/t/vm/root dir"));
        assert_eq!(got, vec![PathBuf::from("/t/vm/root dir")]);
    }
}
