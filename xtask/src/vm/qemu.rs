//! The qemu command line: direct kernel boot of the image's kernel and
//! initrd, the root disk (a per-run qcow2 overlay over the cached image),
//! the payload and results disks as virtio, no network, the serial console
//! to a log file, and KVM or TCG.
use std::path::{Path, PathBuf};

/// How qemu runs the guest's CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

/// The accelerators to try, in order, for `--accel auto|kvm|tcg`: auto is
/// KVM when `/dev/kvm` opens, then TCG if KVM does not boot the guest.
pub fn plan(choice: &str, kvm_opens: bool) -> Vec<Accel> {
    match choice {
        "kvm" => vec![Accel::Kvm],
        "tcg" => vec![Accel::Tcg],
        _ if kvm_opens => vec![Accel::Kvm, Accel::Tcg],
        _ => vec![Accel::Tcg],
    }
}

/// Whether `/dev/kvm` can be opened for reading and writing.
pub fn kvm_opens() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// One boot of the test VM.
#[derive(Debug, Clone)]
pub struct Machine {
    pub accel: Accel,
    pub cpus: u8,
    pub memory_mib: u64,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// qcow2 overlay over the cached root image (`/dev/vda`).
    pub root: PathBuf,
    /// ext4 payload image (`/dev/vdb`, mounted read-only at /opt/orch).
    pub payload: PathBuf,
    /// Raw results disk (`/dev/vdc`, a tar stream written at the end).
    pub results: PathBuf,
    pub serial_log: PathBuf,
    /// Path of the init inside the guest.
    pub init: String,
    /// Factor for the tests' own time limits (`orch.time_scale=`).
    pub time_scale: u32,
}

/// The default factor for the tests' time limits: an emulated CPU (TCG)
/// runs several times slower than the hardware the limits were set on.
pub fn default_time_scale(accel: Accel) -> u32 {
    match accel {
        Accel::Kvm => 1,
        Accel::Tcg => 4,
    }
}

/// The kernel command line.
pub fn kernel_cmdline(init: &str, time_scale: u32) -> String {
    [
        "root=/dev/vda",
        "rootfstype=ext4",
        "rw",
        "console=ttyS0,115200",
        "loglevel=3",
        &format!("init={init}"),
        // PID 1 exiting or an oops ends the VM (-no-reboot) instead of
        // leaving it hanging until the timeout.
        "panic=1",
        "oops=panic",
        "mitigations=off",
        "net.ifnames=0",
        // Read by the guest's test runner; the kernel ignores it.
        &format!("orch.time_scale={time_scale}"),
    ]
    .join(" ")
}

fn drive(path: &Path, format: &str, extra: &str) -> String {
    format!(
        "file={},format={format},if=virtio,cache=unsafe{extra}",
        path.display()
    )
}

/// The arguments of `qemu-system-x86_64`.
pub fn args(m: &Machine) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |xs: &[&str]| a.extend(xs.iter().map(|s| s.to_string()));
    match m.accel {
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => push(&["-accel", "tcg", "-cpu", "max"]),
    }
    push(&[
        "-machine",
        "q35",
        "-smp",
        &m.cpus.to_string(),
        "-m",
        &format!("{}M", m.memory_mib),
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        &format!("file:{}", m.serial_log.display()),
        "-nic",
        "none",
        "-no-reboot",
        "-kernel",
        &m.kernel.display().to_string(),
        "-initrd",
        &m.initrd.display().to_string(),
        "-append",
        &kernel_cmdline(&m.init, m.time_scale),
        "-drive",
        &drive(&m.root, "qcow2", ""),
        "-drive",
        &drive(&m.payload, "raw", ",readonly=on"),
        "-drive",
        &drive(&m.results, "raw", ""),
    ]);
    a
}

/// Parses a memory size (`4G`, `4096M`, `4096`) into MiB.
pub fn parse_memory(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'G' | 'g')) => (&s[..i], 1024),
        Some((i, 'M' | 'm')) => (&s[..i], 1),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 4G or 4096M"))?;
    let mib = n * mult;
    if mib < 512 {
        return Err(format!(
            "{mib} MiB is too little for the test VM (512M at least)"
        ));
    }
    Ok(mib)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(accel: Accel) -> Machine {
        Machine {
            accel,
            cpus: 2,
            memory_mib: 4096,
            kernel: "/v/vmlinuz".into(),
            initrd: "/v/initrd.img".into(),
            root: "/v/root.qcow2".into(),
            payload: "/v/payload.img".into(),
            results: "/v/results.img".into(),
            serial_log: "/v/serial.log".into(),
            init: "/sbin/x".into(),
            time_scale: 4,
        }
    }

    fn after<'a>(a: &'a [String], flag: &str) -> Vec<&'a str> {
        a.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn tcg_machine_line() {
        let a = args(&machine(Accel::Tcg));
        assert_eq!(after(&a, "-accel"), ["tcg"]);
        assert_eq!(after(&a, "-smp"), ["2"]);
        assert_eq!(after(&a, "-m"), ["4096M"]);
        assert_eq!(after(&a, "-serial"), ["file:/v/serial.log"]);
        assert_eq!(after(&a, "-nic"), ["none"]);
        assert_eq!(after(&a, "-kernel"), ["/v/vmlinuz"]);
        assert!(a.contains(&"-nographic".to_string()));
        assert!(a.contains(&"-no-reboot".to_string()));
        assert_eq!(
            after(&a, "-drive"),
            [
                "file=/v/root.qcow2,format=qcow2,if=virtio,cache=unsafe",
                "file=/v/payload.img,format=raw,if=virtio,cache=unsafe,readonly=on",
                "file=/v/results.img,format=raw,if=virtio,cache=unsafe",
            ]
        );
        let append = after(&a, "-append")[0];
        assert!(append.contains("init=/sbin/x"), "{append}");
        assert!(append.contains("console=ttyS0"), "{append}");
        assert!(append.contains("root=/dev/vda"), "{append}");
        assert!(append.ends_with(" orch.time_scale=4"), "{append}");
    }

    #[test]
    fn kvm_uses_the_host_cpu() {
        let a = args(&machine(Accel::Kvm));
        assert_eq!(after(&a, "-accel"), ["kvm"]);
        assert_eq!(after(&a, "-cpu"), ["host"]);
    }

    #[test]
    fn emulation_scales_the_tests_time_limits() {
        assert_eq!(default_time_scale(Accel::Kvm), 1);
        assert!(default_time_scale(Accel::Tcg) > 1);
    }

    #[test]
    fn accel_plan() {
        assert_eq!(plan("auto", true), [Accel::Kvm, Accel::Tcg]);
        assert_eq!(plan("auto", false), [Accel::Tcg]);
        assert_eq!(plan("kvm", false), [Accel::Kvm]);
        assert_eq!(plan("tcg", true), [Accel::Tcg]);
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_memory("4G"), Ok(4096));
        assert_eq!(parse_memory("4096M"), Ok(4096));
        assert_eq!(parse_memory("2048"), Ok(2048));
        assert!(parse_memory("4T").is_err());
        assert!(parse_memory("128M").is_err());
        assert!(parse_memory("").is_err());
    }
}
