//! The cached base image: debootstrap builds a Debian root file system
//! from the recipe into a directory, the recipe's files are written into
//! it, its kernel and initrd are copied out for direct boot, and
//! `mkfs.ext4 -d` turns the tree into a raw ext4 image (no loop device and
//! no mount on the host). The image directory is named by the recipe key
//! and marked complete last, so an interrupted build is never reused.
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{bail, Context, Result};

use super::{bounded, mounts, prereq, recipe};
use crate::{run::signals::Stop, step};

/// Time limit of debootstrap (it downloads about 150 MB).
const DEBOOTSTRAP_LIMIT: Duration = Duration::from_secs(45 * 60);

/// Time limit of writing the ext4 image.
const MKFS_LIMIT: Duration = Duration::from_secs(15 * 60);

/// A built base image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Raw ext4 root file system; only ever read (runs use an overlay).
    pub root: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

impl Image {
    fn in_dir(dir: &Path) -> Self {
        Self {
            root: dir.join("root.raw"),
            kernel: dir.join("vmlinuz"),
            initrd: dir.join("initrd.img"),
        }
    }
}

/// The stamp written when an image is complete.
fn stamp(dir: &Path) -> PathBuf {
    dir.join("complete")
}

/// The image for the current recipe: reused when complete, else built.
/// Images of other recipe versions are removed.
pub fn ensure(vm_dir: &Path, rebuild: bool, stop: &Stop) -> Result<Image> {
    let key = recipe::key();
    let dir = vm_dir.join(format!("image-{key}"));
    let image = Image::in_dir(&dir);
    if !rebuild && stamp(&dir).is_file() {
        let t = step::start(&format!("vm: image {key}"));
        step::info(&format!("reusing the cached image in {}", dir.display()));
        step::finish("cached image found", t);
        return Ok(image);
    }
    remove_other_images(vm_dir, &dir)?;
    mounts::remove_tree(&dir)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    prereq::disk_space(&dir, prereq::IMAGE_GIB, "building the Debian image")?;
    let tree = dir.join("rootfs");
    {
        // Whatever happens in here, nothing stays mounted in the tree.
        let _guard = mounts::Guard::new(&tree);
        debootstrap(&tree, &dir.join("debootstrap.log"), stop)?;
    }
    write_files(&tree)?;
    copy_boot_files(&tree, &image)?;
    trim(&tree)?;
    make_ext4(&tree, &image.root, &dir.join("mkfs.log"), stop)?;
    let t = step::start("vm: removing the debootstrap tree");
    mounts::remove_tree(&tree)?;
    step::finish("removed", t);
    std::fs::write(stamp(&dir), format!("{key}\n"))?;
    step::info(&format!("image ready: {}", dir.display()));
    Ok(image)
}

/// Removes `image-*` directories other than `keep` (older recipes).
fn remove_other_images(vm_dir: &Path, keep: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(vm_dir) else {
        return Ok(());
    };
    for e in entries.filter_map(Result::ok) {
        let p = e.path();
        let old = e.file_name().to_string_lossy().starts_with("image-");
        if old && p != keep && p.is_dir() {
            step::info(&format!(
                "removing the image of another recipe: {}",
                p.display()
            ));
            mounts::remove_tree(&p)?;
        }
    }
    Ok(())
}

/// The debootstrap command line for `tree`.
pub fn debootstrap_command(tree: &Path) -> Command {
    let mut cmd = Command::new("debootstrap");
    cmd.arg("--variant=minbase")
        .arg(format!("--include={}", recipe::PACKAGES.join(",")))
        .arg("--components=main")
        .arg(recipe::SUITE)
        .arg(tree)
        .arg(recipe::MIRROR)
        .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

fn debootstrap(tree: &Path, log: &Path, stop: &Stop) -> Result<()> {
    let t = step::start(&format!(
        "vm: debootstrap {} ({} + minbase) into {}",
        recipe::SUITE,
        recipe::PACKAGES.join(" "),
        tree.display()
    ));
    step::info(&format!(
        "log: {} (limit {})",
        log.display(),
        bounded::human(DEBOOTSTRAP_LIMIT)
    ));
    let _ = std::fs::remove_file(log);
    bounded::run(
        "debootstrap",
        &mut debootstrap_command(tree),
        log,
        DEBOOTSTRAP_LIMIT,
        stop,
    )
    .context("debootstrap could not build the Debian root file system")?;
    step::finish("Debian root file system built", t);
    Ok(())
}

/// Writes the recipe's files into the tree.
fn write_files(tree: &Path) -> Result<()> {
    let t = step::start("vm: writing the guest init and configuration");
    for f in recipe::files() {
        let path = tree.join(f.path.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // resolv.conf may be a dangling symlink in a fresh tree.
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, f.contents).with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(f.mode))?;
        step::info(f.path);
    }
    step::finish("written", t);
    Ok(())
}

/// Picks the newest `prefix<version>` file name in `names` (the kernel or
/// initrd of the installed linux-image).
pub fn newest_with_prefix<'a>(names: &'a [String], prefix: &str) -> Option<&'a str> {
    names
        .iter()
        .filter(|n| n.starts_with(prefix) && n.len() > prefix.len())
        .max_by(|a, b| version_cmp(&a[prefix.len()..], &b[prefix.len()..]))
        .map(String::as_str)
}

/// Compares versions like `6.1.0-27-amd64` number by number.
fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let nums = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse().ok())
            .collect()
    };
    nums(a).cmp(&nums(b))
}

/// Copies the kernel and initrd out of the tree's /boot.
fn copy_boot_files(tree: &Path, image: &Image) -> Result<()> {
    let boot = tree.join("boot");
    let names: Vec<String> = std::fs::read_dir(&boot)
        .with_context(|| format!("reading {}", boot.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let Some(kernel) = newest_with_prefix(&names, "vmlinuz-") else {
        bail!(
            "no kernel in {}: did linux-image-amd64 install?",
            boot.display()
        );
    };
    let version = &kernel["vmlinuz-".len()..];
    let initrd = format!("initrd.img-{version}");
    if !names.contains(&initrd) {
        bail!(
            "no {initrd} in {}: the initramfs was not generated",
            boot.display()
        );
    }
    std::fs::copy(boot.join(kernel), &image.kernel)?;
    std::fs::copy(boot.join(&initrd), &image.initrd)?;
    step::info(&format!("kernel {version} copied for direct boot"));
    Ok(())
}

/// Drops package caches the guest never needs.
fn trim(tree: &Path) -> Result<()> {
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let Ok(entries) = std::fs::read_dir(tree.join(dir)) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// `mkfs.ext4 -d TREE` into a sparse file of the recipe's size.
fn make_ext4(tree: &Path, out: &Path, log: &Path, stop: &Stop) -> Result<()> {
    let t = step::start(&format!(
        "vm: writing the root file system into {} ({} GiB ext4, sparse)",
        out.display(),
        recipe::ROOT_SIZE_GIB
    ));
    let _ = std::fs::remove_file(out);
    std::fs::File::create(out)?.set_len(recipe::ROOT_SIZE_GIB << 30)?;
    bounded::run(
        "mkfs.ext4",
        &mut mkfs_command(tree, out, "orchroot"),
        log,
        MKFS_LIMIT,
        stop,
    )?;
    step::finish("root file system image written", t);
    Ok(())
}

/// `mkfs.ext4` populating `image` (an existing file) from `tree`.
pub fn mkfs_command(tree: &Path, image: &Path, label: &str) -> Command {
    let mut cmd = Command::new("mkfs.ext4");
    cmd.args(["-q", "-F", "-L", label, "-d"])
        .arg(tree)
        .arg(image);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn debootstrap_line() {
        let cmd = debootstrap_command(Path::new("/t/rootfs"));
        assert_eq!(cmd.get_program(), "debootstrap");
        let a = args(&cmd);
        assert_eq!(a[0], "--variant=minbase");
        assert!(
            a[1].starts_with("--include=linux-image-amd64,iproute2,"),
            "{}",
            a[1]
        );
        assert_eq!(
            &a[2..],
            [
                "--components=main",
                "bookworm",
                "/t/rootfs",
                "http://deb.debian.org/debian"
            ]
        );
    }

    #[test]
    fn mkfs_line() {
        let cmd = mkfs_command(Path::new("/t/tree"), Path::new("/t/root.raw"), "orchroot");
        assert_eq!(
            args(&cmd),
            ["-q", "-F", "-L", "orchroot", "-d", "/t/tree", "/t/root.raw"]
        );
    }

    #[test]
    fn picks_the_newest_kernel() {
        let names: Vec<String> = [
            "config-6.1.0-9-amd64",
            "vmlinuz-6.1.0-9-amd64",
            "vmlinuz-6.1.0-27-amd64",
            "initrd.img-6.1.0-27-amd64",
            "vmlinuz-",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            newest_with_prefix(&names, "vmlinuz-"),
            Some("vmlinuz-6.1.0-27-amd64")
        );
        assert_eq!(newest_with_prefix(&names, "System.map-"), None);
    }
}
