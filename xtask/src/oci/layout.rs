//! OCI image layouts (image-spec `image-layout.md`): one directory per
//! plugin, its two manifests in `index.json` under their tags
//! (`org.opencontainers.image.ref.name`), so `skopeo copy
//! oci:target/oci/rate-limit:0.1.0 docker://…` and other layout-aware tools
//! take them from there.

use super::artifact::{Blob, Image};
use anyhow::{Context, Result};
use oci_spec::image::{
    DescriptorBuilder, Digest, ImageIndexBuilder, MediaType, OciLayoutBuilder, ANNOTATION_REF_NAME,
};
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::str::FromStr;

/// Replaces `dir` with a layout holding `images` (stale blobs of an earlier
/// run do not linger).
pub fn write(dir: &Path, images: &[Image]) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).with_context(|| format!("cannot create {}", blobs.display()))?;

    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()
        .context("cannot build oci-layout")?;
    write_json(&dir.join("oci-layout"), &layout)?;

    let mut manifests = Vec::new();
    for image in images {
        for blob in image.blobs().chain(std::iter::once(&image.manifest)) {
            write_blob(&blobs, blob)?;
        }
        let descriptor = DescriptorBuilder::default()
            .media_type(MediaType::ImageManifest)
            .digest(
                Digest::from_str(&image.manifest.digest)
                    .with_context(|| format!("bad digest {}", image.manifest.digest))?,
            )
            .size(image.manifest.data.len() as u64)
            .annotations(HashMap::from([(
                ANNOTATION_REF_NAME.to_string(),
                image.tag.clone(),
            )]))
            .build()
            .context("cannot build a manifest descriptor")?;
        manifests.push(descriptor);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .context("cannot build index.json")?;
    write_json(&dir.join("index.json"), &index)
}

fn write_blob(blobs: &Path, blob: &Blob) -> Result<()> {
    let hex = blob
        .digest
        .strip_prefix("sha256:")
        .with_context(|| format!("not a sha256 digest: {}", blob.digest))?;
    let path = blobs.join(hex);
    fs::write(&path, &blob.data).with_context(|| format!("cannot write {}", path.display()))
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_vec(value).context("cannot serialise JSON")?;
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
