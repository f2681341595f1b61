//! The font the plots' text is drawn with. plotters draws text through
//! ab_glyph from TrueType bytes registered at run time, so building needs
//! no system font library: the TTF comes from Debian's `fonts-dejavu-core`
//! (`cargo xtask bench` and `cargo xtask setup` install it), or from the
//! file named by `ORCH_BENCH_FONT`.
use std::{path::PathBuf, sync::OnceLock};

use plotters::style::{register_font, FontStyle};

/// The Debian package that ships [`REGULAR`] and [`BOLD`].
pub const PACKAGE: &str = "fonts-dejavu-core";
/// The regular face.
pub const REGULAR: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
/// The bold face (titles); the regular face stands in when it is missing.
pub const BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
/// Environment variable naming another TTF to use instead.
pub const ENV: &str = "ORCH_BENCH_FONT";
/// The family name the plots ask for.
pub const FAMILY: &str = "sans-serif";

/// Reads a font file and keeps its bytes for the life of the process
/// (plotters holds on to registered fonts).
fn leak(path: &PathBuf) -> Result<&'static [u8], String> {
    std::fs::read(path)
        .map(|b| &*Box::leak(b.into_boxed_slice()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn register() -> Result<(), String> {
    let (regular, bold) = match std::env::var_os(ENV) {
        Some(p) => (PathBuf::from(&p), PathBuf::from(p)),
        None => (PathBuf::from(REGULAR), PathBuf::from(BOLD)),
    };
    let regular_bytes = leak(&regular).map_err(|e| {
        format!("no font for the plots ({e}); install {PACKAGE} or set {ENV} to a .ttf file")
    })?;
    let bold_bytes = leak(&bold).unwrap_or(regular_bytes);
    for (style, bytes) in [
        (FontStyle::Normal, regular_bytes),
        (FontStyle::Bold, bold_bytes),
    ] {
        register_font(FAMILY, style, bytes)
            .map_err(|_| format!("{} is not a TrueType font", regular.display()))?;
    }
    Ok(())
}

/// Registers the font once per process; the error says what to install.
pub fn ensure() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(register).clone()
}
