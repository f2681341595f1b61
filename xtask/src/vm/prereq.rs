//! What `cargo xtask vm` needs on the host before it starts: root, the
//! Debian packages that bring debootstrap, qemu and mkfs.ext4, and free
//! disk space; each failure names what is missing.
use std::{path::Path, process::Command};

use anyhow::{bail, Result};

use crate::{setup, step};

/// Debian packages the recipe uses on the host.
pub const PACKAGES: &[&str] = &["debootstrap", "qemu-system-x86", "qemu-utils", "e2fsprogs"];

/// Host tools, each with the package that provides it.
const TOOLS: &[(&str, &str)] = &[
    ("debootstrap", "debootstrap"),
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("qemu-img", "qemu-utils"),
    ("mkfs.ext4", "e2fsprogs"),
    ("tar", "tar"),
];

/// Free space needed to build the image (the debootstrap tree and the
/// ext4 image made from it exist side by side for a moment).
pub const IMAGE_GIB: u64 = 4;

/// Checks root and installs missing packages; fails naming what is missing.
pub fn check() -> Result<()> {
    let root = step::output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0");
    if !root {
        bail!(
            "`cargo xtask vm` needs root: debootstrap builds a root file system with \
             device nodes and file owners, and qemu reads the images it makes; run it as root"
        );
    }
    setup::ensure_packages(PACKAGES)?;
    let mut missing = missing_tools(on_path);
    if !missing.is_empty() {
        // Installing one package can remove another that conflicts with it
        // (a backported qemu-utils gives way to qemu-system-x86's version);
        // install what is gone once more, now alongside.
        let again: Vec<&'static str> = missing.iter().map(|(_, p)| *p).collect();
        setup::ensure_packages(&again)?;
        missing = missing_tools(on_path);
    }
    if !missing.is_empty() {
        bail!(
            "missing on this machine: {} (install: apt-get install -y {})",
            missing
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .join(", "),
            missing
                .iter()
                .map(|(_, p)| *p)
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    Ok(())
}

/// The tools for which `found` says no.
fn missing_tools(found: impl Fn(&str) -> bool) -> Vec<(&'static str, &'static str)> {
    TOOLS.iter().copied().filter(|(t, _)| !found(t)).collect()
}

/// Whether `tool` is an executable file in PATH or an sbin directory.
fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(Into::into))
        .any(|d| d.join(tool).is_file())
}

/// Fails when the filesystem holding `dir` has less than `gib` GiB free.
pub fn disk_space(dir: &Path, gib: u64, what: &str) -> Result<()> {
    let Some(free) = crate::test::free_gib(dir) else {
        return Ok(());
    };
    if free < gib {
        bail!(
            "no space: {what} needs about {gib} GiB free in {}, which has {free} GiB \
             (free some space or set CARGO_TARGET_DIR to a larger filesystem)",
            dir.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_missing_tools_with_their_packages() {
        let missing = missing_tools(|t| t != "debootstrap" && t != "qemu-img");
        assert_eq!(
            missing,
            vec![("debootstrap", "debootstrap"), ("qemu-img", "qemu-utils")]
        );
        assert!(missing_tools(|_| true).is_empty());
    }

    #[test]
    fn too_little_space_is_an_error_naming_the_directory() {
        let err = disk_space(Path::new("/"), u64::MAX, "the image").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no space: the image needs"), "{msg}");
        assert!(disk_space(Path::new("/"), 0, "nothing").is_ok());
    }
}
