//! `cargo xtask oci`: the plugins as OCI artifacts, in the two forms hosts
//! and tools pull (see [`artifact`]), written as OCI image layouts under
//! `target/oci/` and, with `--push REGISTRY/PREFIX`, pushed to a registry.

pub mod artifact;
pub mod layout;
pub mod provenance;
pub mod registry;

use crate::plugins::{self, PLUGINS};
use anyhow::{Context, Result};
use artifact::{Image, Module};
use provenance::Provenance;
use registry::Destination;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// The command line of `cargo xtask oci`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub push: Option<Destination>,
}

/// Reads `oci` arguments: `[--push REGISTRY/PREFIX]`.
pub fn options(args: &[&str]) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut flags = crate::flags::Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        match flag.name {
            "--push" => {
                let value = flags
                    .value(&flag)
                    .ok_or("--push: expected REGISTRY/PREFIX, such as 127.0.0.1:5000/wasm")?;
                opts.push = Some(value.parse().map_err(|e| format!("--push: {e}"))?);
            }
            _ => return Err(format!("unexpected argument {:?}", flag.arg)),
        }
    }
    Ok(opts)
}

/// One plugin, packaged.
pub struct Package {
    /// The image name (`rate-limit`).
    pub name: &'static str,
    /// The module's file (`rate_limit.wasm`) and its digest.
    pub file_name: String,
    pub module_digest: String,
    /// Its OCI image layout.
    pub layout: PathBuf,
    /// The compat image, then the CNCF artifact.
    pub images: Vec<Image>,
}

impl Package {
    pub fn image(&self, form: artifact::Form) -> Option<&Image> {
        self.images.iter().find(|i| i.form == form)
    }
}

/// Packages the modules in `<root>/target/plugins/` (built beforehand) into
/// layouts under `<root>/target/oci/<name>/`.
pub fn package(root: &Path, prov: &Provenance) -> Result<Vec<Package>> {
    let modules = root.join("target").join("plugins");
    let out = root.join("target").join("oci");
    let mut packages = Vec::new();
    for plugin in &PLUGINS {
        let file_name = format!("{}.wasm", plugin.artifact);
        let path = modules.join(&file_name);
        let wasm = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let module = Module {
            name: plugin.package,
            file_name: &file_name,
            description: plugin.description,
            wasm: &wasm,
        };
        let images = vec![
            artifact::compat_image(&module, prov)?,
            artifact::wasm_artifact(&module, prov)?,
        ];
        let layout = out.join(plugin.package);
        layout::write(&layout, &images)?;
        packages.push(Package {
            name: plugin.package,
            module_digest: artifact::sha256_digest(&wasm),
            file_name,
            layout,
            images,
        });
    }
    Ok(packages)
}

/// `cargo xtask oci`: build, package, report, and push when asked.
pub fn main(root: &Path, opts: &Options) -> Result<()> {
    // Credentials are checked before the build, not after it.
    let auth = match &opts.push {
        Some(_) => Some(registry::auth_from_env()?),
        None => None,
    };
    plugins::build(root)?;
    let prov = Provenance::read(root)?;
    let packages = package(root, &prov)?;
    print!("{}", report(root, &prov, &packages));

    if let (Some(dest), Some(auth)) = (&opts.push, auth) {
        let scheme = if dest.is_loopback() { "http" } else { "https" };
        println!("\npushing to {} ({scheme})", dest.registry);
        let by_name: Vec<(&str, Vec<Image>)> = packages
            .iter()
            .map(|p| (p.name, p.images.clone()))
            .collect();
        let pushed = registry::push(dest, &by_name, &auth)?;
        for p in &pushed {
            println!("  {}@{}", p.reference, p.digest);
        }
        print!("{}", host_references(dest, &prov, &packages));
    }
    Ok(())
}

/// What was written, with every digest.
pub fn report(root: &Path, prov: &Provenance, packages: &[Package]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nOCI artifacts, version {}, created {} (from {}), revision {}",
        prov.version,
        prov.created,
        prov.epoch_source,
        prov.revision
            .as_deref()
            .unwrap_or("unknown (not a git checkout)")
    );
    for p in packages {
        let shown = p.layout.strip_prefix(root).unwrap_or(&p.layout);
        let _ = writeln!(out, "{}  (OCI image layout)", shown.display());
        for image in &p.images {
            let _ = writeln!(
                out,
                "  {:<12} {:<32} {}",
                image.tag,
                image.form.label(),
                image.manifest.digest
            );
        }
        let _ = writeln!(
            out,
            "  {:<12} {:<32} {}",
            "module", p.file_name, p.module_digest
        );
    }
    out
}

/// The lines to paste into Istio's `WasmPlugin` and Envoy Gateway's
/// `EnvoyExtensionPolicy`: the compat tag and its manifest digest, which
/// both hosts check a pulled image against (`sha256`).
pub fn host_references(dest: &Destination, prov: &Provenance, packages: &[Package]) -> String {
    let mut out = String::from(
        "\nIstio WasmPlugin (spec) and Envoy Gateway EnvoyExtensionPolicy (spec.wasm[].code.image):\n",
    );
    for p in packages {
        if let Some(image) = p.image(artifact::Form::Compat) {
            let _ = writeln!(
                out,
                "  {}:\n    url: oci://{}:{}\n    sha256: {}",
                p.name,
                dest.repository(p.name),
                Form::Compat.tag(&prov.version),
                image.manifest.digest.trim_start_matches("sha256:")
            );
        }
    }
    out
}

use artifact::Form;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn push_is_read_in_both_spellings_and_bad_destinations_are_refused() {
        assert_eq!(options(&[]).unwrap(), Options::default());
        let o = options(&["--push", "127.0.0.1:5000/wasm"]).unwrap();
        assert_eq!(o.push.unwrap().repository("x"), "127.0.0.1:5000/wasm/x");
        let o = options(&["--push=ghcr.io/acme"]).unwrap();
        assert_eq!(o.push.unwrap().registry, "ghcr.io");
        assert!(options(&["--push"])
            .unwrap_err()
            .starts_with("--push: expected"));
        assert!(options(&["--push", "wasm"])
            .unwrap_err()
            .starts_with("--push: expected"));
        assert!(options(&["--tag", "x"]).is_err());
    }
}
