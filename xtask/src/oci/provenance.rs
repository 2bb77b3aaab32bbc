//! What the annotations say about where an artifact comes from, and the one
//! instant it is dated with.
//!
//! The date follows the reproducible-builds convention: `SOURCE_DATE_EPOCH`
//! when set; else the time of the checked-out commit, so that two builds of
//! one commit agree without being told; else (no git, a source tarball) the
//! current time, said out loud because the digests then change every run.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Provenance of one packaging run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The workspace version: the tag, and `org.opencontainers.image.version`.
    pub version: String,
    /// The repository URL (`[workspace.package] repository`).
    pub source: String,
    /// SPDX licence expression (`[workspace.package] license`).
    pub licenses: String,
    /// The commit, with `-dirty` when the work tree has uncommitted changes
    /// to tracked files; `None` outside a git checkout.
    pub revision: Option<String>,
    /// Seconds since the epoch; the tar entry's time.
    pub epoch: u64,
    /// `epoch` in RFC 3339 (`2026-11-23T11:49:57Z`).
    pub created: String,
    /// Where `epoch` came from, for the report.
    pub epoch_source: &'static str,
}

impl Provenance {
    /// Reads the revision from git at `root` and the date as described above.
    pub fn read(root: &Path) -> Result<Provenance> {
        let revision = git(root, &["rev-parse", "HEAD"]).map(|commit| {
            let dirty = git(root, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        });
        let (epoch, epoch_source) = match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(value) => (parse_epoch(&value)?, "SOURCE_DATE_EPOCH"),
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!(
                    "SOURCE_DATE_EPOCH: expected seconds since 1970-01-01 UTC, got non-UTF-8 bytes"
                )
            }
            Err(std::env::VarError::NotPresent) => {
                match git(root, &["log", "-1", "--format=%ct"]).and_then(|t| t.parse().ok()) {
                    Some(t) => (t, "the commit time (SOURCE_DATE_EPOCH unset)"),
                    None => (
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0),
                        "the current time: neither SOURCE_DATE_EPOCH nor a git commit, \
                         so the digests will differ from run to run",
                    ),
                }
            }
        };
        let mut prov = Provenance::fixed(env!("CARGO_PKG_VERSION"), revision, epoch);
        prov.epoch_source = epoch_source;
        Ok(prov)
    }

    /// This workspace's version, source and licence with the given revision and date.
    pub fn fixed(version: &str, revision: Option<String>, epoch: u64) -> Provenance {
        Provenance {
            version: version.to_string(),
            source: env!("CARGO_PKG_REPOSITORY").to_string(),
            licenses: env!("CARGO_PKG_LICENSE").to_string(),
            revision,
            epoch,
            created: rfc3339(epoch),
            epoch_source: "given",
        }
    }
}

fn parse_epoch(value: &str) -> Result<u64> {
    let epoch: u64 = value.trim().parse().with_context(|| {
        format!("SOURCE_DATE_EPOCH: expected seconds since 1970-01-01 UTC (a non-negative integer), got {value:?}")
    })?;
    // RFC 3339 has four-digit years; beyond 9999 the annotation would not parse.
    if epoch > 253_402_300_799 {
        bail!("SOURCE_DATE_EPOCH: {epoch} is after 9999-12-31T23:59:59Z");
    }
    Ok(epoch)
}

fn rfc3339(epoch: u64) -> String {
    i64::try_from(epoch)
        .ok()
        .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// `git -C root <args>`, trimmed, or `None` when git or the checkout is missing.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dates_are_rfc3339_utc_and_bad_epochs_are_refused_with_the_variable_named() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(parse_epoch(" 1700000000\n").unwrap(), 1_700_000_000);
        for bad in ["", "-1", "1.5", "yesterday", "999999999999999"] {
            let e = parse_epoch(bad).unwrap_err().to_string();
            assert!(e.starts_with("SOURCE_DATE_EPOCH: "), "{bad:?}: {e}");
        }
    }
}
