//! One run of the test VM: a fresh qcow2 overlay over the cached root
//! image and a blank results disk, qemu started with its serial console
//! going to a log file that is echoed here line by line, a boot watchdog
//! (the guest's init must announce itself in time; under `--accel auto` a
//! KVM that does not boot the guest falls back to TCG), and an overall
//! time limit after which qemu is killed.
use std::{
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    process::Command,
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};

use super::{
    bounded::{self, Running},
    image::Image,
    qemu::{self, Accel, Machine},
    recipe,
};
use crate::{run::signals::Stop, step};

/// Line the guest's init prints once the file systems are up.
pub const INIT_MARKER: &str = "orch-vm: init started";

/// Size of the raw results disk (a sparse file).
const RESULTS_DISK: u64 = 256 << 20;

/// What a run is given.
#[derive(Debug, Clone)]
pub struct Plan {
    pub accel: String,
    pub cpus: u8,
    pub memory_mib: u64,
    /// Time limit of the whole run, boot to power-off.
    pub limit: Duration,
    /// Factor for the tests' own time limits; by accelerator when `None`.
    pub time_scale: Option<u32>,
}

/// A VM run that ended (the guest powered off or qemu exited).
#[derive(Debug)]
pub struct Finished {
    pub accel: Accel,
    pub serial_log: PathBuf,
    pub results_disk: PathBuf,
    pub took: Duration,
}

/// How long the guest may take to reach its init.
fn boot_limit(accel: Accel) -> Duration {
    match accel {
        Accel::Kvm => Duration::from_secs(90),
        Accel::Tcg => Duration::from_secs(15 * 60),
    }
}

/// Boots the VM (trying the planned accelerators in turn) and waits for it
/// to power off.
pub fn run(
    vm_dir: &Path,
    image: &Image,
    payload: &Path,
    plan: &Plan,
    stop: &Stop,
) -> Result<Finished> {
    let accels = qemu::plan(&plan.accel, qemu::kvm_opens());
    let dir = vm_dir.join("run");
    std::fs::create_dir_all(&dir)?;
    for (i, &accel) in accels.iter().enumerate() {
        let last = i + 1 == accels.len();
        match boot_once(&dir, image, payload, plan, accel, stop)? {
            Attempt::Done(done) => return Ok(done),
            Attempt::NoBoot(why) if !last => {
                step::info(&format!("{why}; trying {}", accels[i + 1]));
            }
            Attempt::NoBoot(why) => bail!("{why}; see {}", dir.display()),
        }
    }
    bail!("no accelerator to try")
}

/// How one boot ended.
#[derive(Debug)]
enum Attempt {
    /// The guest ran and powered off.
    Done(Finished),
    /// The guest never reached its init: why.
    NoBoot(String),
}

/// One boot.
fn boot_once(
    dir: &Path,
    image: &Image,
    payload: &Path,
    plan: &Plan,
    accel: Accel,
    stop: &Stop,
) -> Result<Attempt> {
    let m = Machine {
        accel,
        cpus: plan.cpus,
        memory_mib: plan.memory_mib,
        kernel: image.kernel.clone(),
        initrd: image.initrd.clone(),
        root: dir.join("root.qcow2"),
        payload: payload.to_path_buf(),
        results: dir.join("results.img"),
        serial_log: dir.join("serial.log"),
        init: recipe::INIT_PATH.to_string(),
        time_scale: plan
            .time_scale
            .unwrap_or_else(|| qemu::default_time_scale(accel)),
    };
    fresh_disks(image, &m)?;
    let qemu_log = dir.join("qemu.log");
    let _ = std::fs::remove_file(&qemu_log);
    std::fs::write(&m.serial_log, "")?;
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(qemu::args(&m));
    let t = step::start(&format!(
        "vm: booting ({accel}, {} vCPUs, {} MiB, tests' time limits ×{}), limit {}",
        m.cpus,
        m.memory_mib,
        m.time_scale,
        bounded::human(plan.limit)
    ));
    step::info(&format!("serial console: {}", m.serial_log.display()));
    step::info(&step::describe(&cmd));
    let started = Instant::now();
    let mut vm = Running::spawn("qemu", &mut cmd, &qemu_log)?;
    let mut tail = Tail::new(&m.serial_log);
    let mut booted = false;
    loop {
        let exited = vm.poll()?;
        for line in tail.read()? {
            booted |= line.contains(INIT_MARKER);
            println!("    vm| {line}");
        }
        if let Some(status) = exited {
            for line in tail.finish()? {
                println!("    vm| {line}");
            }
            step::finish(&format!("VM stopped ({status})"), t);
            if !status.success() && !booted {
                bounded::print_tail(&qemu_log, 5);
                return Ok(Attempt::NoBoot(format!(
                    "qemu failed under {accel} before the guest booted ({status})"
                )));
            }
            if !status.success() {
                bounded::print_tail(&qemu_log, 20);
                bail!("qemu failed ({status}); see {}", qemu_log.display());
            }
            return Ok(Attempt::Done(Finished {
                accel,
                serial_log: m.serial_log,
                results_disk: m.results,
                took: started.elapsed(),
            }));
        }
        if stop.requested() {
            vm.kill();
            bail!("interrupted: the VM was stopped");
        }
        if !booted && started.elapsed() > boot_limit(accel) {
            vm.kill();
            step::finish("VM killed", t);
            return Ok(Attempt::NoBoot(format!(
                "the guest did not reach its init under {accel} within {}",
                bounded::human(boot_limit(accel))
            )));
        }
        if started.elapsed() > plan.limit {
            vm.kill();
            bail!(
                "the VM did not finish within {} and was killed; see {}",
                bounded::human(plan.limit),
                m.serial_log.display()
            );
        }
        sleep(Duration::from_millis(500));
    }
}

/// A new overlay over the base image and a blank results disk.
fn fresh_disks(image: &Image, m: &Machine) -> Result<()> {
    let _ = std::fs::remove_file(&m.root);
    step::run(Command::new("qemu-img").args(overlay_args(&image.root, &m.root)))
        .context("creating the root overlay")?;
    let _ = std::fs::remove_file(&m.results);
    std::fs::File::create(&m.results)?.set_len(RESULTS_DISK)?;
    Ok(())
}

/// `qemu-img` arguments for a qcow2 overlay backed by a raw image.
pub fn overlay_args(base: &Path, overlay: &Path) -> Vec<String> {
    vec![
        "create".into(),
        "-q".into(),
        "-f".into(),
        "qcow2".into(),
        "-F".into(),
        "raw".into(),
        "-b".into(),
        base.display().to_string(),
        overlay.display().to_string(),
    ]
}

/// Reads a growing log file and hands out its complete lines.
struct Tail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Tail {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: 0,
            partial: String::new(),
        }
    }

    /// The lines completed since the last call.
    fn read(&mut self) -> Result<Vec<String>> {
        let mut f = std::fs::File::open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        self.offset += buf.len() as u64;
        Ok(take_lines(
            &mut self.partial,
            &String::from_utf8_lossy(&buf),
        ))
    }

    /// The remaining lines, including an unterminated last one.
    fn finish(&mut self) -> Result<Vec<String>> {
        let mut lines = self.read()?;
        let rest = clean(&std::mem::take(&mut self.partial));
        if !rest.is_empty() {
            lines.push(rest);
        }
        Ok(lines)
    }
}

/// Appends `new` to `partial` and takes out the complete lines, without
/// carriage returns and terminal escapes.
fn take_lines(partial: &mut String, new: &str) -> Vec<String> {
    partial.push_str(new);
    let Some(end) = partial.rfind('\n') else {
        return Vec::new();
    };
    let rest = partial.split_off(end + 1);
    let done = std::mem::replace(partial, rest);
    done.lines().map(clean).collect()
}

/// Drops `\r` and ANSI escape sequences (the kernel and initramfs color
/// some lines).
fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters up to the final byte (@ to ~).
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_handed_out_when_complete() {
        let mut p = String::new();
        assert!(take_lines(&mut p, "Linux ver").is_empty());
        assert_eq!(
            take_lines(&mut p, "sion 6.1\r\nabc\r\nde"),
            ["Linux version 6.1", "abc"]
        );
        assert_eq!(p, "de");
        assert_eq!(take_lines(&mut p, "f\n"), ["def"]);
        assert!(p.is_empty());
    }

    #[test]
    fn escapes_are_removed() {
        assert_eq!(clean("\u{1b}[0;32m  OK  \u{1b}[0m] x\r"), "  OK  ] x");
        assert_eq!(clean("plain"), "plain");
    }

    #[test]
    fn tail_follows_a_growing_file() {
        let path = std::env::temp_dir().join(format!("xtask-tail-{}.log", std::process::id()));
        std::fs::write(&path, "one\ntw").unwrap();
        let mut t = Tail::new(&path);
        assert_eq!(t.read().unwrap(), ["one"]);
        std::fs::write(&path, "one\ntwo\nthree").unwrap();
        assert_eq!(t.read().unwrap(), ["two"]);
        assert_eq!(t.finish().unwrap(), ["three"]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn overlay_is_qcow2_over_raw() {
        assert_eq!(
            overlay_args(Path::new("/v/root.raw"), Path::new("/r/root.qcow2")).join(" "),
            "create -q -f qcow2 -F raw -b /v/root.raw /r/root.qcow2"
        );
    }

    #[test]
    fn kvm_gets_a_short_boot_watchdog() {
        assert!(boot_limit(Accel::Kvm) < boot_limit(Accel::Tcg));
    }
}
