//! Locates the eBPF object built by `cargo xtask build-ebpf` and hands its
//! path to the crate. Fails the build, naming the command to run, when the
//! object is missing, empty, not eBPF, or older than its sources: an empty or
//! stale program is never embedded silently.
use std::{
    env, fs,
    path::{Path, PathBuf},
    process,
    time::SystemTime,
};

const FIX: &str = "run `cargo xtask build` (or `cargo xtask build-ebpf`) first";

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .expect("orch-proxy lives inside the workspace")
        .to_path_buf();
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let target = if target.is_absolute() {
        target
    } else {
        root.join(target)
    };
    let object = target.join("bpfel-unknown-none/ebpf/orch-proxy-ebpf");

    let sources = [
        root.join("orch-proxy-ebpf/src"),
        root.join("orch-proxy-ebpf/Cargo.toml"),
        root.join("orch-proxy-common/src"),
        root.join("orch-proxy-common/Cargo.toml"),
    ];
    for s in &sources {
        println!("cargo:rerun-if-changed={}", s.display());
    }
    println!("cargo:rerun-if-changed={}", object.display());
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let bytes = fs::read(&object).unwrap_or_else(|e| {
        fail(&format!(
            "the eBPF object {} is missing ({e})",
            object.display()
        ))
    });
    if bytes.len() < 64
        || &bytes[..4] != b"\x7fELF"
        || u16::from_le_bytes([bytes[18], bytes[19]]) != 247
    {
        fail(&format!("{} is not an eBPF ELF object", object.display()));
    }
    let built = mtime(&object);
    if let Some((newest, path)) = sources.iter().filter_map(|s| newest(s)).max() {
        if newest > built {
            fail(&format!(
                "the eBPF object {} is older than its source {}",
                object.display(),
                path.display()
            ));
        }
    }
    println!(
        "cargo:rustc-env=ORCH_PROXY_EBPF_OBJECT={}",
        object.display()
    );
}

fn fail(why: &str) -> ! {
    eprintln!("error: {why}; {FIX}");
    println!("cargo:warning={why}; {FIX}");
    process::exit(1);
}

fn mtime(p: &Path) -> SystemTime {
    fs::metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn newest(p: &Path) -> Option<(SystemTime, PathBuf)> {
    let meta = fs::metadata(p).ok()?;
    if meta.is_file() {
        return Some((mtime(p), p.to_path_buf()));
    }
    fs::read_dir(p)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| newest(&e.path()))
        .max()
}
