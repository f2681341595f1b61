//! The payload disk of one run: the built binaries (`bin/`), the selected
//! test executables (`tests/<name>`), the guest's test runner (`run`) and
//! its settings (`tests.list`, `test-args`, `test-timeout`), written into
//! an ext4 image with `mkfs.ext4 -d` that the guest mounts read-only at
//! /opt/orch.
use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result};

use super::{artifacts::TestExe, bounded, image, mounts, prereq};
use crate::{run::signals::Stop, step};

/// The workspace binaries the tests and `xtask run` start.
pub const BINARIES: &[&str] = &["orch", "orchctl", "orch-dns", "orch-proxy", "xtask"];

/// The guest's test runner.
const RUN: &str = include_str!("guest/run.sh");

/// What goes into the payload besides the executables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Arguments for every test executable (a name filter, `--nocapture`).
    pub test_args: Vec<String>,
    /// Time limit of one test executable inside the guest.
    pub test_limit: Duration,
}

/// The small text files the runner reads, as (name, contents).
pub fn control_files(tests: &[TestExe], s: &Settings) -> Vec<(&'static str, String)> {
    let lines = |v: Vec<String>| v.into_iter().map(|l| l + "\n").collect::<String>();
    vec![
        (
            "tests.list",
            lines(tests.iter().map(|t| t.target.name.clone()).collect()),
        ),
        ("test-args", lines(s.test_args.clone())),
        ("test-timeout", format!("{}\n", s.test_limit.as_secs())),
    ]
}

/// Size of the ext4 image holding `bytes` of files: a fifth more for
/// metadata and slack, plus 64 MiB, rounded up to a MiB.
pub fn image_size(bytes: u64) -> u64 {
    let mib = 1 << 20;
    (bytes + bytes / 5 + 64 * mib).div_ceil(mib) * mib
}

/// Lays out the payload in `<vm_dir>/payload/` and writes
/// `<vm_dir>/payload.img`; returns the image.
pub fn write(vm_dir: &Path, tests: &[TestExe], s: &Settings, stop: &Stop) -> Result<PathBuf> {
    let t = step::start("vm: payload disk (binaries, tests, runner)");
    let dir = vm_dir.join("payload");
    mounts::remove_tree(&dir)?;
    std::fs::create_dir_all(dir.join("bin"))?;
    std::fs::create_dir_all(dir.join("tests"))?;
    let profile = step::target_dir().join("debug");
    let mut bytes = 0;
    for b in BINARIES {
        bytes += copy(&profile.join(b), &dir.join("bin").join(b))
            .with_context(|| format!("{b} is not built (cargo xtask build)"))?;
    }
    for exe in tests {
        bytes += copy(&exe.path, &dir.join("tests").join(&exe.target.name))?;
        step::info(&format!(
            "test {}:{} ← {}",
            exe.target.package,
            exe.target.name,
            exe.path.display()
        ));
    }
    // `xtask run` applies examples/demo.yaml (ORCH_WORKSPACE points here).
    let examples = step::root().join("examples");
    std::fs::create_dir_all(dir.join("examples"))?;
    for entry in
        std::fs::read_dir(&examples).with_context(|| format!("reading {}", examples.display()))?
    {
        let path = entry?.path();
        if path.is_file() {
            bytes += copy(
                &path,
                &dir.join("examples")
                    .join(path.file_name().unwrap_or_default()),
            )?;
        }
    }
    let run = dir.join("run");
    std::fs::write(&run, RUN)?;
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755))?;
    for (name, contents) in control_files(tests, s) {
        std::fs::write(dir.join(name), contents)?;
    }
    let size = image_size(bytes);
    prereq::disk_space(vm_dir, size.div_ceil(1 << 30) + 1, "the payload disk")?;
    let img = vm_dir.join("payload.img");
    let _ = std::fs::remove_file(&img);
    std::fs::File::create(&img)?.set_len(size)?;
    bounded::run(
        "mkfs.ext4 (payload)",
        &mut image::mkfs_command(&dir, &img, "orchpayload"),
        &vm_dir.join("payload-mkfs.log"),
        Duration::from_secs(600),
        stop,
    )?;
    mounts::remove_tree(&dir)?;
    step::info(&format!(
        "{} binaries and {} test executables, {} MiB",
        BINARIES.len(),
        tests.len(),
        bytes >> 20
    ));
    step::finish("payload disk written", t);
    Ok(img)
}

/// Copies a file keeping its mode; returns its size.
fn copy(from: &Path, to: &Path) -> Result<u64> {
    std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::artifacts::TestTarget;

    fn exe(name: &str) -> TestExe {
        TestExe {
            target: TestTarget {
                package: "p".into(),
                name: name.into(),
            },
            path: PathBuf::from("/x"),
        }
    }

    #[test]
    fn control_files_list_tests_args_and_limit() {
        let s = Settings {
            test_args: vec!["--nocapture".into(), "redirects".into()],
            test_limit: Duration::from_secs(1500),
        };
        let files = control_files(&[exe("connect4"), exe("podnet")], &s);
        assert_eq!(
            files,
            vec![
                ("tests.list", "connect4\npodnet\n".to_string()),
                ("test-args", "--nocapture\nredirects\n".to_string()),
                ("test-timeout", "1500\n".to_string()),
            ]
        );
        let none = Settings {
            test_args: vec![],
            ..s
        };
        assert_eq!(control_files(&[], &none)[1].1, "");
    }

    #[test]
    fn image_size_has_headroom_and_whole_mebibytes() {
        assert_eq!(image_size(0), 64 << 20);
        let s = image_size(1000 << 20);
        assert_eq!(s, (1200 + 64) << 20);
        assert_eq!(image_size(1) % (1 << 20), 0);
    }

    #[test]
    fn runner_reads_its_settings_and_uses_prebuilt_binaries() {
        assert!(RUN.contains("export ORCH_BIN_DIR=$ORCH/bin ORCH_WORKSPACE=$ORCH"));
        for f in ["tests.list", "test-args", "test-timeout"] {
            assert!(RUN.contains(f), "{f}");
        }
    }
}
