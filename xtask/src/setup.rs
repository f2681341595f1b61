//! `cargo xtask setup`: installs what a fresh machine lacks, and nothing
//! else. Every item is checked first, so a second run installs nothing.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

use crate::step;

/// Debian packages the project uses (tests, `xtask run`, benchmarks' peers).
pub const PACKAGES: &[&str] = &[
    "iptables",
    "iproute2",
    "bind9-dnsutils",
    "conntrack",
    "iputils-ping",
    "etcd-server",
    "etcd-client",
    PROTOC_PACKAGE,
    // The TTF the benchmark report's plots draw their text with (and their
    // unit test).
    crate::bench::FONT_PACKAGE,
];

/// The Debian package with `protoc`: orch-core's etcd client compiles
/// etcd's protos when it builds, so nothing that builds orch-core can run
/// before set-up installed it.
pub const PROTOC_PACKAGE: &str = "protobuf-compiler";

/// Fails with what to do when `protoc` cannot run (`$PROTOC`, else
/// `protoc` on the PATH, as the protos' build script looks for it).
pub fn require_protoc() -> Result<()> {
    let protoc = std::env::var_os("PROTOC").unwrap_or_else(|| "protoc".into());
    if step::succeeds(Command::new(&protoc).arg("--version")) {
        return Ok(());
    }
    bail!(
        "{} cannot run: building orch-core needs protoc (etcd's protos); \
         run `cargo xtask setup` or `apt-get install -y {PROTOC_PACKAGE}`",
        Path::new(&protoc).display()
    )
}

/// Debian's kubectl, used to check API compatibility. On machines where
/// another package already owns `/usr/bin/kubectl`, the Debian package is
/// unpacked here instead of overwriting that file.
pub const KUBECTL_PRIVATE_ROOT: &str = "/opt/orch/kubernetes-client";

/// One thing set-up can be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    NightlyToolchain,
    RustSrc,
    BpfLinker,
    Package(&'static str),
    DebianKubectl,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::NightlyToolchain => write!(f, "the nightly Rust toolchain (for the eBPF build)"),
            Item::RustSrc => write!(f, "rust-src for nightly (`-Z build-std=core`)"),
            Item::BpfLinker => write!(f, "bpf-linker (links the eBPF object)"),
            Item::Package(p) => write!(f, "Debian package {p}"),
            Item::DebianKubectl => write!(f, "Debian's kubectl (package kubernetes-client)"),
        }
    }
}

/// Everything that is missing right now.
pub fn missing() -> Result<Vec<Item>> {
    let mut out = Vec::new();
    if nightly_sysroot().is_none() {
        out.push(Item::NightlyToolchain);
        out.push(Item::RustSrc);
    } else if !rust_src_present() {
        out.push(Item::RustSrc);
    }
    if !bpf_linker_works() {
        out.push(Item::BpfLinker);
    }
    if is_debian() {
        out.extend(
            PACKAGES
                .iter()
                .filter(|p| !package_installed(p))
                .map(|p| Item::Package(p)),
        );
        if debian_kubectl().is_none() {
            out.push(Item::DebianKubectl);
        }
    }
    Ok(out)
}

/// Installs everything that is missing.
pub fn run() -> Result<()> {
    let t = step::start("setup: checking what is missing");
    let missing = missing()?;
    if missing.is_empty() {
        step::finish("nothing to install", t);
        return Ok(());
    }
    for m in &missing {
        step::info(&format!("missing: {m}"));
    }
    step::finish("checked", t);

    if missing.contains(&Item::NightlyToolchain) {
        let t = step::start("setup: installing the nightly toolchain");
        step::run(rustup().args(["toolchain", "install", "nightly", "--profile", "minimal"]))
            .context("the eBPF build needs a nightly toolchain")?;
        step::finish("nightly installed", t);
    }
    if missing.contains(&Item::RustSrc) {
        let t = step::start("setup: adding rust-src to nightly");
        step::run(rustup().args(["component", "add", "rust-src", "--toolchain", "nightly"]))?;
        step::finish("rust-src added", t);
    }
    if missing.contains(&Item::BpfLinker) {
        install_bpf_linker()?;
    }
    let packages: Vec<&str> = missing
        .iter()
        .filter_map(|m| {
            if let Item::Package(p) = m {
                Some(*p)
            } else {
                None
            }
        })
        .collect();
    let want_kubectl = missing.contains(&Item::DebianKubectl);
    if !packages.is_empty() || want_kubectl {
        if !is_root() {
            let mut all = packages.clone();
            if want_kubectl {
                all.push("kubernetes-client");
            }
            println!("not root: install these yourself, then run `cargo xtask setup` again:");
            println!("    sudo apt-get install -y {}", all.join(" "));
        } else {
            install_packages(&packages, want_kubectl)?;
        }
    }
    Ok(())
}

fn rustup() -> Command {
    let mut c = Command::new("rustup");
    c.env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env("RUSTUP_AUTO_INSTALL", "0");
    c
}

/// The nightly toolchain's sysroot, if nightly is installed.
fn nightly_sysroot() -> Option<PathBuf> {
    step::output(rustup().args(["run", "nightly", "rustc", "--print", "sysroot"]))
        .map(|s| PathBuf::from(s.trim()))
}

fn rust_src_present() -> bool {
    nightly_sysroot().is_some_and(|s| s.join("lib/rustlib/src/rust/library/core").is_dir())
}

fn bpf_linker() -> PathBuf {
    step::cargo_bin_dir().join("bpf-linker")
}

/// bpf-linker is dynamically linked against nightly's LLVM; a nightly update
/// breaks it, which `--version` notices (the loader fails).
fn bpf_linker_works() -> bool {
    step::succeeds(Command::new(bpf_linker()).arg("--version"))
}

fn install_bpf_linker() -> Result<()> {
    let t = step::start("setup: building bpf-linker against nightly's LLVM");
    let sysroot = nightly_sysroot().context("nightly is missing")?;
    let lib = sysroot.join("lib");
    let llvm = std::fs::read_dir(&lib)
        .with_context(|| format!("reading {}", lib.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|n| n.starts_with("libLLVM-") && n.ends_with(".so"))
        .with_context(|| format!("no libLLVM-*.so in {}", lib.display()))?;
    let dylib = llvm
        .trim_start_matches("lib")
        .trim_end_matches(".so")
        .to_string();
    let vv = step::output(rustup().args(["run", "nightly", "rustc", "-vV"])).unwrap_or_default();
    let major = vv
        .lines()
        .find_map(|l| l.strip_prefix("LLVM version: "))
        .and_then(|v| v.split('.').next())
        .context("rustc +nightly -vV reports no LLVM version")?
        .to_string();
    step::info(&format!("linking against {dylib} (LLVM {major})"));
    let flags = format!(
        "-L {} -l dylib={dylib} -C link-arg=-Wl,-rpath,{}",
        lib.display(),
        lib.display()
    );
    step::run(
        Command::new("cargo")
            .env_remove("RUSTUP_TOOLCHAIN")
            .env("RUSTFLAGS", flags)
            .args([
                "install",
                "bpf-linker",
                "--version",
                "0.13.0",
                "--locked",
                "--force",
            ])
            .args(["--no-default-features", "--features"])
            .arg(format!("llvm-{major},no-llvm-linking")),
    )?;
    if !bpf_linker_works() {
        bail!(
            "bpf-linker was installed but does not start; check {}",
            bpf_linker().display()
        );
    }
    step::finish("bpf-linker installed", t);
    Ok(())
}

fn is_root() -> bool {
    step::output(Command::new("id").arg("-u")).is_some_and(|s| s.trim() == "0")
}

fn is_debian() -> bool {
    Path::new("/etc/debian_version").exists() && Path::new("/usr/bin/apt-get").exists()
}

fn package_installed(p: &str) -> bool {
    step::output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
        .is_some_and(|s| s.contains("install ok installed"))
}

/// Path of Debian's kubectl, if present: the packaged one, or the private
/// copy set-up unpacked when another package owns `/usr/bin/kubectl`.
pub fn debian_kubectl() -> Option<PathBuf> {
    if package_installed("kubernetes-client") {
        return Some(PathBuf::from("/usr/bin/kubectl"));
    }
    let private = Path::new(KUBECTL_PRIVATE_ROOT).join("usr/bin/kubectl");
    private.is_file().then_some(private)
}

/// Who owns `/usr/bin/kubectl`, if anyone other than kubernetes-client.
fn foreign_kubectl_owner() -> Option<String> {
    let out = step::output(Command::new("dpkg-query").args(["-S", "/usr/bin/kubectl"]))?;
    let owner = out.split(':').next()?.trim().to_string();
    (owner != "kubernetes-client").then_some(owner)
}

fn apt() -> Command {
    let mut c = Command::new("apt-get");
    c.env("DEBIAN_FRONTEND", "noninteractive");
    c
}

fn install_packages(packages: &[&str], kubectl: bool) -> Result<()> {
    let t = step::start("setup: apt-get update");
    step::run(apt().args(["update", "-q"]))?;
    step::finish("package lists updated", t);
    let mut list: Vec<&str> = packages.to_vec();
    let foreign = if kubectl {
        foreign_kubectl_owner()
    } else {
        None
    };
    if kubectl && foreign.is_none() {
        list.push("kubernetes-client");
    }
    if !list.is_empty() {
        let t = step::start(&format!("setup: apt-get install {}", list.join(" ")));
        step::run(
            apt()
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&list),
        )?;
        step::finish("packages installed", t);
    }
    if let Some(owner) = foreign {
        let t = step::start(&format!(
            "setup: unpacking Debian's kubernetes-client into {KUBECTL_PRIVATE_ROOT} \
             (/usr/bin/kubectl belongs to package {owner})"
        ));
        let dl = std::env::temp_dir().join(format!("orch-kubectl-{}", std::process::id()));
        std::fs::create_dir_all(&dl)?;
        step::run(
            apt()
                .current_dir(&dl)
                .args(["download", "kubernetes-client"]),
        )?;
        let deb = std::fs::read_dir(&dl)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .context("apt-get download produced no .deb")?;
        std::fs::create_dir_all(KUBECTL_PRIVATE_ROOT)?;
        step::run(
            Command::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(KUBECTL_PRIVATE_ROOT),
        )?;
        let _ = std::fs::remove_dir_all(&dl);
        step::finish("kubectl unpacked", t);
    }
    Ok(())
}

/// Installs Debian packages a task needs (wrk, dnsperf, knot, curl) when
/// they are missing: with apt-get as root on Debian, else it says what to
/// install.
pub fn ensure_packages(packages: &[&'static str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !package_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_debian() || !is_root() {
        bail!(
            "this task needs these packages: apt-get install -y {}",
            missing.join(" ")
        );
    }
    install_packages(&missing, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_protoc_says_what_to_install() {
        // `$PROTOC` wins over the PATH, as in the protos' build script.
        // Set only in this test process's view through a child command.
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "setup::tests::protoc_check_child", "--nocapture"])
            .env("PROTOC", "/nonexistent/protoc")
            .env("ORCH_PROTOC_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("/nonexistent/protoc"), "{text}");
        assert!(text.contains(PROTOC_PACKAGE), "{text}");
    }

    #[test]
    fn protoc_check_child() {
        if std::env::var_os("ORCH_PROTOC_CHILD").is_none() {
            return;
        }
        println!("{:#}", require_protoc().unwrap_err());
    }
}
