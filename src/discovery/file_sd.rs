//! `file_sd_configs`: target groups from JSON and YAML files, re-read when they change.
//!
//! Change detection polls the matched files' metadata (mtime, size, inode) every
//! `poll_interval` (a couple of seconds) instead of using inotify: it costs one `stat` per
//! file and one directory listing per glob, needs no extra dependency, and also works
//! where inotify does not (NFS, some bind mounts, Kubernetes ConfigMap symlink swaps).
//! Every `refresh_interval` (default 5m) all files are re-read regardless, as Prometheus does.
//!
//! Errors follow Prometheus' `discovery/file/file.go`: a file that cannot be read or
//! parsed keeps its previous groups (the error is logged and counted); a file that no
//! longer exists, or no longer matches, loses its groups.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::{MissedTickBehavior, interval_at};

use super::glob::FilePattern;
use super::target_group::{self, ParseError};
use super::{Cancel, DiscoveryMetrics, Provider, SharedGroups, TargetGroup, share};
use crate::config::FileSdConfig;
use crate::config::glob;

/// Prometheus' default `refresh_interval` for file_sd.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// The label naming the file a group came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Why a file_sd config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    /// `files` is empty.
    #[error("file service discovery config must contain at least one path name")]
    NoFiles,
    /// A path does not end in `.json`, `.yml` or `.yaml`.
    #[error("path name {0:?} is not valid for file discovery (must end in .json, .yml or .yaml)")]
    BadExtension(String),
    /// A pattern cannot be used.
    #[error("invalid file_sd pattern: {0}")]
    Pattern(String),
}

/// Why one file was not taken.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Parse(#[from] ParseError),
}

/// Watches the files of one `file_sd_configs` entry.
#[derive(Debug)]
pub struct FileProvider {
    state: FilesState,
    refresh_interval: Duration,
    poll_interval: Duration,
}

impl FileProvider {
    /// Checks the patterns; `poll_interval` is how often file metadata is compared.
    pub fn new(
        cfg: &FileSdConfig,
        poll_interval: Duration,
        metrics: DiscoveryMetrics,
    ) -> Result<Self, FileSdError> {
        if cfg.files.is_empty() {
            return Err(FileSdError::NoFiles);
        }
        let mut patterns = Vec::with_capacity(cfg.files.len());
        for f in &cfg.files {
            if format_of(f).is_none() {
                return Err(FileSdError::BadExtension(f.clone()));
            }
            patterns.push(FilePattern::parse(f).map_err(|e| FileSdError::Pattern(e.to_string()))?);
        }
        let refresh_interval = cfg
            .refresh_interval
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_REFRESH_INTERVAL);
        Ok(FileProvider {
            state: FilesState {
                patterns,
                metrics,
                files: BTreeMap::new(),
                last_scan: None,
            },
            refresh_interval,
            poll_interval: poll_interval.max(Duration::from_millis(10)),
        })
    }
}

impl Provider for FileProvider {
    fn mechanism(&self) -> &'static str {
        "file"
    }

    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SharedGroups>,
        cancel: Cancel,
    ) -> BoxFuture<'static, ()> {
        async move {
            let FileProvider {
                mut state,
                refresh_interval,
                poll_interval,
            } = *self;
            let mut refresh = interval_at(
                crate::model::clock::monotonic_now() + refresh_interval,
                refresh_interval,
            );
            refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut poll = interval_at(
                crate::model::clock::monotonic_now() + poll_interval,
                poll_interval,
            );
            poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut last_sent: Option<SharedGroups> = None;
            let mut force = true;
            loop {
                // File I/O blocks; keep it off the async workers.
                let step = tokio::task::spawn_blocking(move || {
                    let groups = state.step(force);
                    (state, groups)
                });
                let groups;
                (state, groups) = match step.await {
                    Ok(r) => r,
                    Err(error) => {
                        tracing::error!(%error, "file_sd refresh task failed; provider stops");
                        return;
                    }
                };
                if let Some(groups) = groups.map(share).filter(|g| last_sent.as_ref() != Some(g)) {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        sent = tx.send(groups.clone()) => if sent.is_err() { return },
                    }
                    last_sent = Some(groups);
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = refresh.tick() => force = true,
                    _ = poll.tick() => force = false,
                }
            }
        }
        .boxed()
    }
}

/// What a file looked like at the last scan; a change means it must be re-read.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// Matched paths in order, with their stamps (`None` when `stat` failed).
type Scan = Vec<(String, Option<Stamp>)>;

/// The blocking part: scanning, reading, and the last good groups per file.
#[derive(Debug)]
struct FilesState {
    patterns: Vec<FilePattern>,
    metrics: DiscoveryMetrics,
    /// Last good groups of each file that currently matches.
    files: BTreeMap<String, Vec<TargetGroup>>,
    last_scan: Option<Scan>,
}

impl FilesState {
    /// Rescans; when `force`d or when anything changed, re-reads every file and returns the
    /// groups of all files in pattern order.
    fn step(&mut self, force: bool) -> Option<Vec<TargetGroup>> {
        let scan = self.scan(force);
        if !force && self.last_scan.as_ref() == Some(&scan) {
            return None;
        }
        for (path, _) in &scan {
            match read_file(path) {
                Ok(groups) => {
                    self.files.insert(path.clone(), groups);
                }
                Err(error) => {
                    self.metrics.file_read_errors.inc();
                    let kept = self.files.get(path).map_or(0, Vec::len);
                    tracing::error!(path = %path, %error, kept_groups = kept, "cannot read file_sd file");
                }
            }
        }
        self.files.retain(|p, _| scan.iter().any(|(s, _)| s == p));
        let groups = scan
            .iter()
            .filter_map(|(p, _)| self.files.get(p))
            .flatten()
            .cloned()
            .collect();
        self.last_scan = Some(scan);
        Some(groups)
    }

    /// Lists matching files (each path once, first pattern wins) with their stamps.
    /// Listing errors are reported only on forced scans, so polling does not flood logs.
    fn scan(&self, report: bool) -> Scan {
        let mut out: Scan = Vec::new();
        let mut push = |path: String| {
            if !out.iter().any(|(p, _)| *p == path) {
                let stamp = stamp(Path::new(&path));
                out.push((path, stamp));
            }
        };
        for pattern in &self.patterns {
            match pattern {
                FilePattern::Literal(p) => {
                    if std::fs::symlink_metadata(p).is_ok() {
                        push(p.clone());
                    }
                }
                FilePattern::Glob { dir, name } => {
                    let list_dir = if dir.is_empty() { "." } else { dir.as_str() };
                    let entries = match std::fs::read_dir(list_dir) {
                        Ok(e) => e,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(error) => {
                            if report {
                                self.metrics.refresh_failed("file");
                                tracing::error!(dir = %list_dir, %error, "cannot list file_sd directory");
                            }
                            continue;
                        }
                    };
                    let mut names: Vec<String> = entries
                        .filter_map(|e| e.ok())
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| glob::matches(name, n))
                        .collect();
                    names.sort();
                    for n in names {
                        match dir.as_str() {
                            "" => push(n),
                            "/" => push(format!("/{n}")),
                            d => push(format!("{d}/{n}")),
                        }
                    }
                }
            }
        }
        out
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode,
    })
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    Yaml,
}

fn format_of(path: &str) -> Option<Format> {
    let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "json" => Some(Format::Json),
        "yml" | "yaml" => Some(Format::Yaml),
        _ => None,
    }
}

/// Reads one file's groups: sources `path:i`, label `__meta_filepath`.
fn read_file(path: &str) -> Result<Vec<TargetGroup>, ReadError> {
    let bytes = std::fs::read(path)?;
    let meta = (FILEPATH_LABEL, path);
    let groups = match format_of(path) {
        Some(Format::Json) => target_group::parse_json(&bytes, path, meta)?,
        // Patterns are checked for an extension, so anything else is YAML-named.
        Some(Format::Yaml) | None => target_group::parse_yaml(&bytes, path, meta)?,
    };
    Ok(groups)
}
