//! Pushing the built images to a registry with `oci-client`: the blobs and
//! manifest bytes of the layout, unchanged, so the registry serves the
//! digests the layout holds; then the registry is asked for each tag's
//! digest, and a difference is an error.

use super::artifact::{Image, MANIFEST_MEDIA_TYPE};
use anyhow::{bail, Context, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use std::net::IpAddr;
use std::str::FromStr;

/// Environment variables holding registry credentials (both or neither).
pub const USERNAME_VAR: &str = "REGISTRY_USERNAME";
pub const PASSWORD_VAR: &str = "REGISTRY_PASSWORD";

/// `--push REGISTRY/PREFIX`: where the images go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `host[:port]`.
    pub registry: String,
    /// The namespace before the image name; may be empty.
    pub prefix: String,
}

impl FromStr for Destination {
    type Err = String;

    fn from_str(s: &str) -> Result<Destination, String> {
        let expected = "expected REGISTRY/PREFIX, such as 127.0.0.1:5000/wasm or ghcr.io/your-org";
        let s = s.trim().trim_end_matches('/');
        if s.is_empty() || s.contains("://") {
            return Err(format!("{expected}, got {s:?} (no scheme)"));
        }
        let (registry, prefix) = s.split_once('/').unwrap_or((s, ""));
        // Docker's rule for telling a registry from a first path component.
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(format!(
                "{expected}; {registry:?} is not a registry host (it has no '.', no port and is not localhost)"
            ));
        }
        let dest = Destination {
            registry: registry.to_string(),
            prefix: prefix.to_string(),
        };
        // The distribution spec's grammar, checked on a full reference.
        dest.reference("rate-limit", "0.1.0")
            .map_err(|e| format!("{expected}; {s:?} does not make a valid image reference: {e}"))?;
        Ok(dest)
    }
}

impl Destination {
    /// `REGISTRY/PREFIX/name`.
    pub fn repository(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            format!("{}/{name}", self.registry)
        } else {
            format!("{}/{}/{name}", self.registry, self.prefix)
        }
    }

    pub fn reference(&self, name: &str, tag: &str) -> Result<Reference, String> {
        let text = format!("{}:{tag}", self.repository(name));
        let reference = Reference::from_str(&text).map_err(|e| e.to_string())?;
        // The parser would quietly send `Registry` without a dot to Docker Hub.
        if reference.registry() != self.registry {
            return Err(format!(
                "{text:?} does not name registry {:?}",
                self.registry
            ));
        }
        Ok(reference)
    }

    /// Loopback registries are spoken to in plain HTTP; all others in HTTPS.
    pub fn is_loopback(&self) -> bool {
        // (IPv6 literals never get here: image references cannot hold them.)
        let host = self.registry.split(':').next().unwrap_or("");
        host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// One pushed tag and the digest the registry reports for it.
pub struct Pushed {
    pub reference: String,
    pub digest: String,
}

/// The credentials from [`USERNAME_VAR`]/[`PASSWORD_VAR`], else anonymous.
pub fn auth_from_env() -> Result<RegistryAuth> {
    match (std::env::var(USERNAME_VAR), std::env::var(PASSWORD_VAR)) {
        (Ok(user), Ok(password)) => Ok(RegistryAuth::Basic(user, password)),
        (Err(_), Err(_)) => Ok(RegistryAuth::Anonymous),
        _ => bail!("set both {USERNAME_VAR} and {PASSWORD_VAR}, or neither for an anonymous push"),
    }
}

/// An `oci-client` client for `dest`: plain HTTP for a loopback registry, HTTPS
/// otherwise.
pub fn client_for(dest: &Destination) -> Client {
    // reqwest is built without a default TLS backend (no aws-lc C build);
    // ring is installed here. An error means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let protocol = if dest.is_loopback() {
        ClientProtocol::HttpsExcept(vec![dest.registry.clone()])
    } else {
        ClientProtocol::Https
    };
    Client::new(ClientConfig {
        protocol,
        ..Default::default()
    })
}

/// Pushes every image of every package (`(image name, images)`) under its tag.
pub fn push(
    dest: &Destination,
    packages: &[(&str, Vec<Image>)],
    auth: &RegistryAuth,
) -> Result<Vec<Pushed>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for the registry client")?;
    runtime.block_on(push_all(dest, packages, auth))
}

async fn push_all(
    dest: &Destination,
    packages: &[(&str, Vec<Image>)],
    auth: &RegistryAuth,
) -> Result<Vec<Pushed>> {
    let client = client_for(dest);
    client.store_auth_if_needed(&dest.registry, auth).await;
    let mut pushed = Vec::new();
    for (name, images) in packages {
        for image in images {
            let reference = dest
                .reference(name, &image.tag)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let shown = reference.whole();
            for blob in image.blobs() {
                let exists = client
                    .blob_exists(&reference, &blob.digest)
                    .await
                    .with_context(|| format!("cannot reach {} for {shown}", dest.registry))?;
                if !exists {
                    client
                        .push_blob(&reference, blob.data.clone(), &blob.digest)
                        .await
                        .with_context(|| format!("cannot push blob {} of {shown}", blob.digest))?;
                }
            }
            client
                .push_manifest_raw(
                    &reference,
                    image.manifest.data.clone(),
                    http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE),
                )
                .await
                .with_context(|| format!("cannot push the manifest of {shown}"))?;
            let digest = client
                .fetch_manifest_digest(&reference, auth)
                .await
                .with_context(|| format!("cannot read back the digest of {shown}"))?;
            if digest != image.manifest.digest {
                bail!(
                    "{shown}: the registry reports {digest}, not the pushed {}",
                    image.manifest.digest
                );
            }
            pushed.push(Pushed {
                reference: shown,
                digest,
            });
        }
    }
    Ok(pushed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn destinations_name_a_registry_and_a_valid_prefix() {
        let d: Destination = "127.0.0.1:5000/wasm".parse().unwrap();
        assert_eq!(d.repository("rate-limit"), "127.0.0.1:5000/wasm/rate-limit");
        assert!(d.is_loopback());
        let d: Destination = "ghcr.io/acme/gateway/".parse().unwrap();
        assert_eq!(
            d.repository("latency-metrics"),
            "ghcr.io/acme/gateway/latency-metrics"
        );
        assert!(!d.is_loopback());
        let d: Destination = "localhost:5000".parse().unwrap();
        assert_eq!(d.repository("rate-limit"), "localhost:5000/rate-limit");
        assert!(d.is_loopback());
        assert!("[::1]:5000/x".parse::<Destination>().is_err());
        assert!(!"10.0.0.1:5000/x"
            .parse::<Destination>()
            .unwrap()
            .is_loopback());
        assert!(!"localhost.example.com/x"
            .parse::<Destination>()
            .unwrap()
            .is_loopback());
        for bad in [
            "",
            "wasm",
            "acme/wasm",
            "https://ghcr.io/acme",
            "ghcr.io/Acme",
            "ghcr.io/a b",
        ] {
            let e = bad.parse::<Destination>().unwrap_err();
            assert!(e.starts_with("expected REGISTRY/PREFIX"), "{bad:?}: {e}");
        }
    }
}
