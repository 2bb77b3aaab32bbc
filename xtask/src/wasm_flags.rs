//! The rustc flags every build of the shipped `.wasm` uses: `cargo xtask build`
//! and host-tests/build.rs both (the latter through `#[path]`), so they share
//! one target directory without rebuilding each other's output.
//!
//! Why: a panic location inside a dependency names its source file by absolute
//! path, under `$CARGO_HOME/registry/src/…`. Left alone, two machines with
//! different cargo homes (`/root/.cargo`, `/usr/local/cargo`, a CI runner's)
//! build different bytes from the same sources, and the OCI digests differ.
//! Remapping the cargo home to `/cargo` makes the module depend on the sources
//! only. Workspace files are already named relative to the workspace, and the
//! standard library as `/rustc/<commit>/…`.

use std::path::PathBuf;

/// The value for `CARGO_ENCODED_RUSTFLAGS` (flags separated by `\x1f`).
pub fn encoded_rustflags() -> String {
    encoded_rustflags_for(None)
}

/// The same for a build whose `CARGO_HOME` is `home` (`None`: this process's).
#[allow(dead_code)] // host-tests/build.rs includes this file and uses the above only
pub fn encoded_rustflags_for(home: Option<&std::path::Path>) -> String {
    let homes = match home {
        Some(h) => with_canonical(h.to_path_buf()),
        None => cargo_homes(),
    };
    let mut flags = Vec::new();
    for home in homes {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.join("\u{1f}")
}

/// The cargo home as cargo finds it (`CARGO_HOME`, else `~/.cargo`), and its
/// canonical form when that differs (a symlinked home).
fn cargo_homes() -> Vec<PathBuf> {
    let home = match std::env::var_os("CARGO_HOME") {
        Some(h) if !h.is_empty() => {
            let h = PathBuf::from(h);
            if h.is_absolute() {
                h
            } else {
                std::env::current_dir().map(|d| d.join(&h)).unwrap_or(h)
            }
        }
        _ => match std::env::var_os("HOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h).join(".cargo"),
            _ => return Vec::new(),
        },
    };
    with_canonical(home)
}

fn with_canonical(home: PathBuf) -> Vec<PathBuf> {
    let mut homes = vec![home.clone()];
    if let Ok(real) = home.canonicalize() {
        if real != home {
            homes.push(real);
        }
    }
    homes
}
