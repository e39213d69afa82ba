//! Content hashes and section-by-section comparison, so that a reload touches only what
//! changed (Prometheus keeps scrape pools and remote-write queues whose config is equal).

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use super::types::{Config, RemoteWriteConfig, ScrapeConfig};
use super::values::with_secrets_exposed;

/// xxh3 of the canonical (YAML) serialization of `v`. With `secrets`, secret values are part
/// of the hash (a changed password is a change); without, they count as `<secret>`.
fn hash_of<T: Serialize + std::fmt::Debug>(v: &T, secrets: bool) -> u64 {
    let text = if secrets {
        with_secrets_exposed(|| serde_yaml_ng::to_string(v))
    } else {
        serde_yaml_ng::to_string(v)
    };
    // Serialization of these types does not fail; should it, the Debug form (secrets
    // redacted) still changes with almost every change.
    let text = text.unwrap_or_else(|_| format!("{v:?}"));
    xxh3_64(text.as_bytes())
}

impl Config {
    /// Hash of everything that was loaded, secrets included: equal hashes mean an identical
    /// configuration. For change detection on reload; not for publishing (see
    /// [`Config::redacted_hash`]). Contents of `*_file` credentials are not included.
    pub fn content_hash(&self) -> u64 {
        hash_of(self, true)
    }

    /// Hash with secret values left out, safe to publish (e.g. in gossip) so that peers can
    /// compare configurations without revealing anything that could be brute-forced.
    pub fn redacted_hash(&self) -> u64 {
        hash_of(self, false)
    }

    /// What changed from `self` (the running config) to `new`.
    pub fn diff(&self, new: &Config) -> ConfigDiff {
        let old_jobs = |name: &str| self.scrape_configs.iter().find(|s| s.job_name == name);
        let new_jobs = |name: &str| new.scrape_configs.iter().find(|s| s.job_name == name);
        let mut d = ConfigDiff {
            external_labels_changed: self.global.external_labels != new.global.external_labels,
            ..ConfigDiff::default()
        };
        for sc in &new.scrape_configs {
            match old_jobs(&sc.job_name) {
                None => d.jobs_added.push(sc.job_name.clone()),
                Some(old) if old != sc => d.jobs_changed.push(sc.job_name.clone()),
                Some(_) => {}
            }
        }
        for sc in &self.scrape_configs {
            if new_jobs(&sc.job_name).is_none() {
                d.jobs_removed.push(sc.job_name.clone());
            }
        }
        let old_rw: Vec<u64> = self.remote_write.iter().map(|r| r.content_hash()).collect();
        let new_rw: Vec<u64> = new.remote_write.iter().map(|r| r.content_hash()).collect();
        d.remote_write_added = new_rw
            .iter()
            .copied()
            .filter(|h| !old_rw.contains(h))
            .collect();
        d.remote_write_removed = old_rw
            .iter()
            .copied()
            .filter(|h| !new_rw.contains(h))
            .collect();
        d
    }
}

impl ScrapeConfig {
    /// Hash of this job's config, secrets included (see [`Config::content_hash`]).
    pub fn content_hash(&self) -> u64 {
        hash_of(self, true)
    }
}

impl RemoteWriteConfig {
    /// Hash of this endpoint's config, secrets included: the endpoint's identity on reload
    /// (a queue whose hash is unchanged keeps running).
    pub fn content_hash(&self) -> u64 {
        hash_of(self, true)
    }

    /// Hash without secret values: a queue's identity. A reload that changes only a
    /// password or token keeps the queue and swaps its client (Prometheus hashes the
    /// config with secrets shown as `<secret>` and calls `SetClient`).
    pub fn identity_hash(&self) -> u64 {
        hash_of(self, false)
    }
}

/// The difference between two configs, by job name and by remote-write content hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// Jobs only in the new config.
    pub jobs_added: Vec<String>,
    /// Jobs only in the old config.
    pub jobs_removed: Vec<String>,
    /// Jobs in both whose config differs.
    pub jobs_changed: Vec<String>,
    /// [`RemoteWriteConfig::content_hash`] of endpoints only in the new config.
    pub remote_write_added: Vec<u64>,
    /// [`RemoteWriteConfig::content_hash`] of endpoints only in the old config.
    pub remote_write_removed: Vec<u64>,
    /// External labels differ (every remote-write endpoint is affected).
    pub external_labels_changed: bool,
}

impl ConfigDiff {
    /// Whether nothing that matters to scraping or sending changed.
    pub fn is_empty(&self) -> bool {
        *self == ConfigDiff::default()
    }
}
