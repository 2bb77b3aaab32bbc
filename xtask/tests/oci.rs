//! `cargo xtask oci` for real: the command run as users run it, pushing to a
//! real registry (Debian's `docker-registry`) on a free loopback port; the
//! artifacts pulled back with `skopeo` and with `oci-client`; digests, media
//! types and annotations checked; the module unpacked from the compat layer
//! compared with the build and loaded in the proxy-wasm host; and the same
//! sources, built at another path with another cargo home, giving the same
//! digests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flate2::read::GzDecoder;
use host_tests::registry::Registry;
use host_tests::{HostProfile, Node, Plugin, Request, Response};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use xtask::oci::artifact::sha256_digest;
use xtask::oci::provenance::Provenance;
use xtask::oci::registry::client_for;

/// The tests here write the same `target/plugins` and `target/oci`: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

const EPOCH: &str = "1700000000";
const CREATED: &str = "2023-11-14T22:13:20Z";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const PLUGINS: [(&str, &str); 2] = [
    ("rate-limit", "rate_limit"),
    ("latency-metrics", "latency_metrics"),
];
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-oci-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// A layout's tags and their manifest digests.
fn layout_tags(layout: &Path) -> BTreeMap<String, String> {
    let index = json(&std::fs::read(layout.join("index.json")).unwrap());
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn layout_blob(layout: &Path, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    std::fs::read(layout.join("blobs/sha256").join(hex)).unwrap()
}

/// The one file in a compat layer, by name and content.
fn unpack_compat_layer(gz: &[u8]) -> (String, Vec<u8>) {
    let mut archive = tar::Archive::new(GzDecoder::new(gz));
    let mut found = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        found.push((name, data));
    }
    assert_eq!(found.len(), 1, "the compat layer holds exactly one file");
    found.pop().unwrap()
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo (scripts/test installs it: apt-get install -y skopeo)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn git_head() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The standard annotations, as a user reads them off a pulled manifest.
fn check_annotations(at: &str, manifest: &Value, name: &str) {
    let a = &manifest["annotations"];
    let get = |k: &str| a[k].as_str().unwrap_or_else(|| panic!("{at}: no {k}"));
    assert_eq!(get("org.opencontainers.image.title"), name, "{at}");
    assert_eq!(get("org.opencontainers.image.version"), VERSION, "{at}");
    assert_eq!(get("org.opencontainers.image.created"), CREATED, "{at}");
    assert_eq!(
        get("org.opencontainers.image.source"),
        "https://github.com/gateway-wasm/plugins",
        "{at}"
    );
    assert!(
        get("org.opencontainers.image.revision").starts_with(&git_head()),
        "{at}: revision {} is not the checked-out commit {}",
        get("org.opencontainers.image.revision"),
        git_head()
    );
    assert_eq!(
        get("org.opencontainers.image.licenses"),
        "Apache-2.0",
        "{at}"
    );
    assert!(
        !get("org.opencontainers.image.description").is_empty(),
        "{at}"
    );
}

/// Loads `wasm` under both host profiles with a real configuration and
/// sends one request through it.
fn loads_and_configures(name: &str, wasm: &Path) {
    for profile in [HostProfile::Envoy, HostProfile::Kong] {
        let mut node = Node::builder(profile).workers(1).build().unwrap();
        let (filter, config) = match name {
            "rate-limit" => ("rate_limit", r#"{"minute": 5, "policy": "local"}"#),
            _ => ("latency_metrics", r#"{"metrics_path": "/metrics"}"#),
        };
        let id = node
            .load(Plugin::new(filter, wasm).config(config))
            .unwrap_or_else(|e| {
                panic!("{name} pulled from the registry does not configure under {profile:?}: {e}")
            });
        let ex = node
            .worker(0)
            .run(
                &[id],
                Request::get("/").client("203.0.113.9", 40_000),
                |_| Response::ok(),
            )
            .unwrap();
        assert_eq!(ex.status, 200, "{name} under {profile:?}");
        if name == "rate-limit" {
            assert_eq!(
                ex.header("X-RateLimit-Remaining-Minute").as_deref(),
                Some("4"),
                "{name} under {profile:?} counts"
            );
        }
    }
}

#[test]
fn pushed_artifacts_pull_back_as_built_and_the_module_loads_in_the_host() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let registry = Registry::start().expect("docker-registry (scripts/test installs it)");
    let prefix = format!("{}/wasm", registry.addr());
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["oci", "--push", &prefix])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo xtask oci --push {prefix} failed:\n{stdout}\n{stderr}\nregistry log:\n{}",
        registry.log()
    );
    println!("{stdout}");

    let root = root();
    let scratch = scratch("pull");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = client_for(&prefix.parse().unwrap());

    for (name, file) in PLUGINS {
        let built =
            std::fs::read(root.join("target/plugins").join(format!("{file}.wasm"))).unwrap();
        let layout = root.join("target/oci").join(name);
        let tags = layout_tags(&layout);
        let compat_tag = VERSION.to_string();
        let wasm_tag = format!("{VERSION}-wasm");
        assert_eq!(
            tags.keys().cloned().collect::<Vec<_>>(),
            vec![compat_tag.clone(), wasm_tag.clone()],
            "{name}: the layout's tags"
        );
        // The command tells users what to paste into Istio / Envoy Gateway.
        let compat_hex = tags[&compat_tag].strip_prefix("sha256:").unwrap();
        assert!(
            stdout.contains(&format!("url: oci://{prefix}/{name}:{VERSION}"))
                && stdout.contains(&format!("sha256: {compat_hex}")),
            "{name}: the host references are printed:\n{stdout}"
        );

        for tag in [&compat_tag, &wasm_tag] {
            let at = format!("{prefix}/{name}:{tag}");
            let docker = format!("docker://{at}");
            // skopeo reads the manifest the layout holds, byte for byte.
            let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &docker]);
            assert_eq!(sha256_digest(&raw), tags[tag], "{at}: digest (skopeo)");
            assert_eq!(
                raw,
                layout_blob(&layout, &tags[tag]),
                "{at}: manifest bytes"
            );
            // So does oci-client, with the registry's digest header.
            let reference: Reference = at.parse().unwrap();
            let (raw2, digest) = runtime
                .block_on(client.pull_manifest_raw(
                    &reference,
                    &RegistryAuth::Anonymous,
                    &[MANIFEST],
                ))
                .unwrap();
            assert_eq!(
                (raw2.to_vec(), digest.as_str()),
                (raw.clone(), tags[tag].as_str()),
                "{at}: oci-client"
            );

            let manifest = json(&raw);
            assert_eq!(manifest["schemaVersion"], 2, "{at}");
            assert_eq!(manifest["mediaType"], MANIFEST, "{at}");
            check_annotations(&at, &manifest, name);
            let layers = manifest["layers"].as_array().unwrap();
            assert_eq!(layers.len(), 1, "{at}: one layer");
            let layer: OciDescriptor = serde_json::from_value(layers[0].clone()).unwrap();
            let config: OciDescriptor = serde_json::from_value(manifest["config"].clone()).unwrap();
            let pull = |d: &OciDescriptor| {
                let mut data = Vec::new();
                runtime
                    .block_on(client.pull_blob(&reference, d, &mut data))
                    .unwrap();
                assert_eq!(sha256_digest(&data), d.digest, "{at}: blob digest");
                assert_eq!(data.len() as i64, d.size, "{at}: blob size");
                data
            };
            let config_json = json(&pull(&config));
            assert_eq!(
                (
                    config_json["architecture"].as_str(),
                    config_json["os"].as_str()
                ),
                (Some("wasm"), Some("wasip1")),
                "{at}: platform"
            );

            if *tag == compat_tag {
                // Istio's compat form: one tar+gzip layer with plugin.wasm, annotated.
                assert_eq!(
                    manifest["annotations"]["module.wasm.image/variant"], "compat",
                    "{at}"
                );
                assert_eq!(
                    config.media_type, "application/vnd.oci.image.config.v1+json",
                    "{at}"
                );
                assert_eq!(
                    layer.media_type, "application/vnd.oci.image.layer.v1.tar+gzip",
                    "{at}"
                );
                let gz = pull(&layer);
                let mut tar = Vec::new();
                GzDecoder::new(&gz[..]).read_to_end(&mut tar).unwrap();
                assert_eq!(
                    config_json["rootfs"]["diff_ids"][0],
                    sha256_digest(&tar).as_str(),
                    "{at}: diff_id"
                );
                let (file_name, module) = unpack_compat_layer(&gz);
                assert_eq!(file_name, "plugin.wasm", "{at}");
                assert!(
                    module == built,
                    "{at}: plugin.wasm (oci-client) is not the built {file}.wasm"
                );

                // What a fetcher sees: skopeo copies the image to a layout of
                // its own; the module in it is the build, and it loads.
                let dir = scratch.join(name);
                skopeo(&[
                    "copy",
                    "--src-tls-verify=false",
                    &docker,
                    &format!("oci:{}:{tag}", dir.display()),
                ]);
                let copied = layout_tags(&dir);
                assert_eq!(
                    copied[tag.as_str()],
                    tags[tag],
                    "{at}: digest after skopeo copy"
                );
                let copied_manifest = json(&layout_blob(&dir, &copied[tag.as_str()]));
                let gz = layout_blob(
                    &dir,
                    copied_manifest["layers"][0]["digest"].as_str().unwrap(),
                );
                let (_, module) = unpack_compat_layer(&gz);
                assert!(
                    module == built,
                    "{at}: plugin.wasm (skopeo) is not the built {file}.wasm"
                );
                let unpacked = scratch.join(format!("{name}-plugin.wasm"));
                std::fs::write(&unpacked, &module).unwrap();
                loads_and_configures(name, &unpacked);
            } else {
                // The CNCF Wasm OCI artifact: the module is the layer.
                assert!(
                    manifest["annotations"]
                        .get("module.wasm.image/variant")
                        .is_none(),
                    "{at}"
                );
                assert_eq!(
                    config.media_type, "application/vnd.wasm.config.v0+json",
                    "{at}"
                );
                assert_eq!(layer.media_type, "application/wasm", "{at}");
                assert_eq!(
                    layer.digest,
                    sha256_digest(&built),
                    "{at}: layer digest is the module's"
                );
                assert_eq!(
                    layer
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("org.opencontainers.image.title"))
                        .map(String::as_str),
                    Some(format!("{file}.wasm").as_str()),
                    "{at}: layer title"
                );
                assert!(
                    pull(&layer) == built,
                    "{at}: the layer is not the built {file}.wasm"
                );
                assert_eq!(
                    config_json["layerDigests"],
                    serde_json::json!([layer.digest]),
                    "{at}"
                );
                assert_eq!(config_json["created"], CREATED, "{at}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Every file git would check out (tracked or new, not ignored), copied.
fn copy_sources(from: &Path, to: &Path) {
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(from)
        .output()
        .unwrap();
    assert!(out.status.success());
    for rel in out.stdout.split(|b| *b == 0).filter(|r| !r.is_empty()) {
        let rel = Path::new(std::str::from_utf8(rel).unwrap());
        let src = from.join(rel);
        if !src.is_file() {
            continue; // deleted in the work tree
        }
        let dst = to.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&src, &dst).unwrap();
    }
}

fn cargo_home() -> PathBuf {
    match std::env::var_os("CARGO_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo"),
    }
}

/// Digests of everything packaged: each tag's manifest and each module.
fn all_digests(packages: &[xtask::oci::Package]) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    for p in packages {
        all.insert(format!("{} module", p.name), p.module_digest.clone());
        for image in &p.images {
            all.insert(
                format!("{}:{}", p.name, image.tag),
                image.manifest.digest.clone(),
            );
        }
    }
    all
}

#[test]
fn the_same_sources_and_date_give_the_same_digests_on_another_machine() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = root();
    let prov = Provenance::fixed(VERSION, Some(git_head()), EPOCH.parse().unwrap());

    xtask::plugins::compile(&root).unwrap();
    let here = xtask::oci::package(&root, &prov).unwrap();
    let home = cargo_home();
    for p in &here {
        let module = std::fs::read(root.join("target/plugins").join(&p.file_name)).unwrap();
        for path in [&home, &root] {
            let path = path.to_string_lossy();
            assert!(
                !module.windows(path.len()).any(|w| w == path.as_bytes()),
                "{} names {path}, a path of this machine: its bytes depend on where it was built",
                p.file_name
            );
        }
    }

    // "Another machine": the sources at another path, built in a new target
    // directory, by a cargo whose home is at another path (a symlink to this
    // one, so nothing is downloaded).
    let elsewhere = scratch("repro");
    let sources = elsewhere.join("somebody-elses-checkout");
    copy_sources(&root, &sources);
    let other_home = elsewhere.join("another-cargo-home");
    std::os::unix::fs::symlink(&home, &other_home).unwrap();
    xtask::plugins::compile_with_cargo_home(&sources, Some(&other_home)).unwrap();
    let there = xtask::oci::package(&sources, &prov).unwrap();
    assert_eq!(
        all_digests(&here),
        all_digests(&there),
        "same sources, same SOURCE_DATE_EPOCH"
    );

    // Another date: other manifests, the same module.
    let later = Provenance::fixed(
        VERSION,
        Some(git_head()),
        EPOCH.parse::<u64>().unwrap() + 86_400,
    );
    let then = xtask::oci::package(&sources, &later).unwrap();
    for (a, b) in here.iter().zip(&then) {
        assert_eq!(a.module_digest, b.module_digest);
        for (x, y) in a.images.iter().zip(&b.images) {
            assert_ne!(
                x.manifest.digest, y.manifest.digest,
                "{} {}: the date is in the manifest",
                a.name, x.tag
            );
        }
    }
    let _ = std::fs::remove_dir_all(&elsewhere);
}

#[test]
fn a_bad_destination_or_an_unreachable_registry_is_a_clear_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
        cmd.args(args)
            .env_remove("REGISTRY_USERNAME")
            .env_remove("REGISTRY_PASSWORD");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Refused before anything is built.
    let (code, err) = run(&["oci", "--push", "Wasm"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--push: expected REGISTRY/PREFIX"), "{err}");
    let (code, err) = run(&["oci", "--push", "127.0.0.1:5000/Upper"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("does not make a valid image reference"),
        "{err}"
    );
    let (code, err) = run(
        &["oci", "--push", "127.0.0.1:5000/wasm"],
        &[("REGISTRY_USERNAME", "me")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("set both REGISTRY_USERNAME and REGISTRY_PASSWORD"),
        "{err}"
    );
    let (code, err) = run(&["oci"], &[("SOURCE_DATE_EPOCH", "yesterday")]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("SOURCE_DATE_EPOCH: expected seconds since 1970-01-01 UTC"),
        "{err}"
    );

    // Nobody listens there: the error names the registry and the image.
    let port = host_tests::services::free_port().unwrap();
    let dest = format!("127.0.0.1:{port}/wasm");
    let (code, err) = run(&["oci", "--push", &dest], &[("SOURCE_DATE_EPOCH", EPOCH)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot reach 127.0.0.1:{port} for 127.0.0.1:{port}/wasm/rate-limit:{VERSION}"
        )),
        "{err}"
    );
}
