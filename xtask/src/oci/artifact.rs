//! The two OCI forms a plugin ships in, built as bytes: every blob and the
//! manifest exactly as they are written to the layout and pushed, so the
//! digests printed, stored and pulled are one and the same.
//!
//! - **compat** (`<version>`): an ordinary OCI image of one
//!   `tar+gzip` layer holding `plugin.wasm`, annotated
//!   `module.wasm.image/variant: compat`. Istio's and Envoy Gateway's image
//!   fetchers read it (they unpack the single layer and take `plugin.wasm`),
//!   and any registry or container tool handles it.
//! - **wasm** (`<version>-wasm`): the CNCF TAG Runtime Wasm OCI artifact,
//!   config `application/vnd.wasm.config.v0+json` and the module itself as
//!   one `application/wasm` layer, for wasm-native tooling.
//!
//! Reproducible by construction: the tar entry's owner, mode and time are
//! fixed (the time is the `created` instant, `SOURCE_DATE_EPOCH`), gzip
//! carries no time or name, and every JSON document is serialised from types
//! with a fixed key order (annotations in `BTreeMap`s, which is why the
//! manifests use `oci-client`'s types rather than `oci-spec`'s `HashMap`s).

use super::provenance::Provenance;
use anyhow::{Context, Result};
use flate2::{Compression, GzBuilder};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_spec::image::{self as spec, Arch, ImageConfigurationBuilder, Os, RootFsBuilder};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// An OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image configuration (the compat form's config).
pub const IMAGE_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The compat form's one layer: the layer type Istio's fetcher accepts.
pub const COMPAT_LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The CNCF Wasm artifact's config.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The CNCF Wasm artifact's layer: the module's bytes.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The annotation Istio's compat specification puts on the manifest.
pub const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";
/// Where Istio and Envoy Gateway look for the module inside the compat layer.
pub const COMPAT_FILE: &str = "plugin.wasm";
/// The platform of both forms: a core module for WASI preview 1
/// (`GOARCH=wasm GOOS=wasip1`, as the CNCF artifact specification asks).
pub const ARCHITECTURE: &str = "wasm";
pub const OS: &str = "wasip1";

/// Which of the two forms an [`Image`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Compat,
    Wasm,
}

impl Form {
    /// The tag it is published under for `version`.
    pub fn tag(self, version: &str) -> String {
        match self {
            Form::Compat => version.to_string(),
            Form::Wasm => format!("{version}-wasm"),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Form::Compat => "compat (Istio, Envoy Gateway)",
            Form::Wasm => "wasm (CNCF Wasm OCI artifact)",
        }
    }
}

/// Content-addressed bytes and their media type.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: sha256_digest(&data),
            data,
        }
    }

    fn descriptor(&self, annotations: Option<BTreeMap<String, String>>) -> OciDescriptor {
        OciDescriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.data.len() as i64,
            urls: None,
            annotations,
            ..Default::default()
        }
    }
}

/// One manifest with what it references.
#[derive(Debug, Clone)]
pub struct Image {
    pub form: Form,
    pub tag: String,
    pub manifest: Blob,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

impl Image {
    /// The config and the layers: what a push uploads before the manifest.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }
}

/// A built module to package, and what the annotations say of it.
pub struct Module<'a> {
    /// The image name (`rate-limit`).
    pub name: &'a str,
    /// The shipped file name (`rate_limit.wasm`), the wasm layer's title.
    pub file_name: &'a str,
    pub description: &'a str,
    pub wasm: &'a [u8],
}

/// `sha256:<hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    let hash = Sha256::digest(data);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// The annotations both manifests carry (`org.opencontainers.image.*`).
fn standard_annotations(module: &Module, prov: &Provenance) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert(spec::ANNOTATION_TITLE.into(), module.name.into());
    a.insert(
        spec::ANNOTATION_DESCRIPTION.into(),
        module.description.into(),
    );
    a.insert(spec::ANNOTATION_SOURCE.into(), prov.source.clone());
    a.insert(spec::ANNOTATION_VERSION.into(), prov.version.clone());
    if let Some(revision) = &prov.revision {
        a.insert(spec::ANNOTATION_REVISION.into(), revision.clone());
    }
    a.insert(spec::ANNOTATION_CREATED.into(), prov.created.clone());
    a.insert(spec::ANNOTATION_LICENSES.into(), prov.licenses.clone());
    a
}

fn manifest(
    config: &Blob,
    layers: Vec<OciDescriptor>,
    annotations: BTreeMap<String, String>,
) -> Result<Blob> {
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(MANIFEST_MEDIA_TYPE.to_string()),
        config: config.descriptor(None),
        layers,
        subject: None,
        artifact_type: None,
        annotations: Some(annotations),
    };
    let bytes = serde_json::to_vec(&manifest).context("cannot serialise the manifest")?;
    Ok(Blob::new(MANIFEST_MEDIA_TYPE, bytes))
}

/// The compat image: one `tar+gzip` layer with `plugin.wasm`.
pub fn compat_image(module: &Module, prov: &Provenance) -> Result<Image> {
    let tar = compat_tar(module.wasm, prov.epoch)?;
    let diff_id = sha256_digest(&tar);
    let layer = Blob::new(COMPAT_LAYER_MEDIA_TYPE, gzip(&tar)?);

    let config = ImageConfigurationBuilder::default()
        .created(prov.created.clone())
        .architecture(Arch::Wasm)
        .os(Os::Other(OS.to_string()))
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id])
                .build()
                .context("cannot build the image rootfs")?,
        )
        .build()
        .context("cannot build the image configuration")?;
    let config = Blob::new(
        IMAGE_CONFIG_MEDIA_TYPE,
        serde_json::to_vec(&config).context("cannot serialise the image configuration")?,
    );

    let mut annotations = standard_annotations(module, prov);
    annotations.insert(VARIANT_ANNOTATION.into(), "compat".into());
    let manifest = manifest(&config, vec![layer.descriptor(None)], annotations)?;
    Ok(Image {
        form: Form::Compat,
        tag: Form::Compat.tag(&prov.version),
        manifest,
        config,
        layers: vec![layer],
    })
}

/// The CNCF Wasm artifact's config (`application/vnd.wasm.config.v0+json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WasmConfig<'a> {
    created: &'a str,
    architecture: &'a str,
    os: &'a str,
    /// The layers' digests, in order; it also makes the config, and so the
    /// artifact's identity, differ from one module to another.
    layer_digests: Vec<String>,
}

/// The CNCF Wasm artifact: the module as one `application/wasm` layer.
pub fn wasm_artifact(module: &Module, prov: &Provenance) -> Result<Image> {
    let layer = Blob::new(WASM_LAYER_MEDIA_TYPE, module.wasm.to_vec());
    let config = WasmConfig {
        created: &prov.created,
        architecture: ARCHITECTURE,
        os: OS,
        layer_digests: vec![layer.digest.clone()],
    };
    let config = Blob::new(
        WASM_CONFIG_MEDIA_TYPE,
        serde_json::to_vec(&config).context("cannot serialise the wasm config")?,
    );
    // The title names the file `oras pull` and similar tools write.
    let layer_annotations = BTreeMap::from([(
        spec::ANNOTATION_TITLE.to_string(),
        module.file_name.to_string(),
    )]);
    let manifest = manifest(
        &config,
        vec![layer.descriptor(Some(layer_annotations))],
        standard_annotations(module, prov),
    )?;
    Ok(Image {
        form: Form::Wasm,
        tag: Form::Wasm.tag(&prov.version),
        manifest,
        config,
        layers: vec![layer],
    })
}

/// A tar archive holding `plugin.wasm` alone, owned by root, mode 0644,
/// dated `epoch`: the same bytes for the same module and time.
fn compat_tar(wasm: &[u8], epoch: u64) -> Result<Vec<u8>> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(wasm.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(epoch);
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut header, COMPAT_FILE, wasm)
        .context("cannot write the layer's tar entry")?;
    builder
        .into_inner()
        .context("cannot finish the layer's tar archive")
}

/// gzip with no file name and a zero time, at a fixed level.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder
        .write_all(data)
        .context("cannot compress the layer")?;
    encoder.finish().context("cannot compress the layer")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read;

    fn prov(epoch: u64) -> Provenance {
        Provenance::fixed("0.1.0", Some("abc123".into()), epoch)
    }

    fn module(wasm: &[u8]) -> Module<'_> {
        Module {
            name: "rate-limit",
            file_name: "rate_limit.wasm",
            description: "test",
            wasm,
        }
    }

    #[test]
    fn the_compat_layer_unpacks_to_plugin_wasm_byte_for_byte() {
        let wasm = b"\0asm\x01\0\0\0 not really".to_vec();
        let image = compat_image(&module(&wasm), &prov(1_700_000_000)).unwrap();
        let gz = flate2::read::GzDecoder::new(&image.layers[0].data[..]);
        let mut archive = tar::Archive::new(gz);
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some("plugin.wasm"));
        assert_eq!(entry.header().mtime().unwrap(), 1_700_000_000);
        assert_eq!(entry.header().mode().unwrap(), 0o644);
        let mut out = Vec::new();
        entry.read_to_end(&mut out).unwrap();
        assert_eq!(out, wasm);
        drop(entry);
        assert!(entries.next().is_none(), "exactly one entry");
    }

    #[test]
    fn same_inputs_same_digests_and_the_time_is_part_of_them() {
        let wasm = vec![7u8; 5000];
        let a = compat_image(&module(&wasm), &prov(10)).unwrap();
        let b = compat_image(&module(&wasm), &prov(10)).unwrap();
        let c = compat_image(&module(&wasm), &prov(11)).unwrap();
        assert_eq!(a.manifest.digest, b.manifest.digest);
        assert_ne!(a.manifest.digest, c.manifest.digest);
        let w1 = wasm_artifact(&module(&wasm), &prov(10)).unwrap();
        let w2 = wasm_artifact(&module(&wasm), &prov(11)).unwrap();
        assert_ne!(w1.manifest.digest, w2.manifest.digest);
        assert_eq!(
            w1.layers[0].digest, w2.layers[0].digest,
            "the module is the layer"
        );
        assert_eq!(w1.layers[0].digest, sha256_digest(&wasm));
    }

    #[test]
    fn the_manifests_say_what_they_reference() {
        let wasm = vec![1u8; 10];
        let image = wasm_artifact(&module(&wasm), &prov(0)).unwrap();
        let m: serde_json::Value = serde_json::from_slice(&image.manifest.data).unwrap();
        assert_eq!(m["schemaVersion"], 2);
        assert_eq!(m["mediaType"], MANIFEST_MEDIA_TYPE);
        assert_eq!(m["config"]["mediaType"], WASM_CONFIG_MEDIA_TYPE);
        assert_eq!(m["config"]["digest"], image.config.digest.as_str());
        assert_eq!(m["layers"][0]["size"], 10);
        assert_eq!(
            m["annotations"]["org.opencontainers.image.created"],
            "1970-01-01T00:00:00Z"
        );
        let c: serde_json::Value = serde_json::from_slice(&image.config.data).unwrap();
        assert_eq!(c["layerDigests"][0], image.layers[0].digest.as_str());
        assert_eq!(
            (c["architecture"].as_str(), c["os"].as_str()),
            (Some("wasm"), Some("wasip1"))
        );
    }
}
