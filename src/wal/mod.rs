//! Write-ahead log between scrape and remote write: segments on disk, checksummed records,
//! per-endpoint readers with durable positions, truncation and a disk bound.
//!
//! # Layout
//! `<storage.path>/wal/` holds segment files named by a 20-digit zero-padded sequence
//! number, rotated by size ([`WalOptions::segment_size`]), and `readers/<endpoint-id>`, one
//! small position file per reader. Records are framed `type | len | crc32c` (see
//! `record.rs`): Series records (ref → labels as remote-write wire bytes) and Samples
//! records (one batch per scrape, delta-encoded).
//!
//! # Self-contained segments (the choice behind truncation and restarts)
//! Every segment defines, before first use, each series it refers to: the writer tracks the
//! refs logged in the current segment and clears that set on rotation, so a live series is
//! re-logged lazily by its first sample in the next segment. Consequences:
//! - Truncation is deleting files: no checkpoint, and a reader that starts at any segment
//!   resolves every ref in it. A reader resuming mid-segment first re-reads that segment's
//!   start for its Series records (bounded by one segment).
//! - Refs only need to be unique within a segment. A process never appends to a segment of
//!   an earlier process (open always starts a new one), so the process-unique
//!   [`SeriesRef`](crate::series::SeriesRef) is used as is. In this process's segments a
//!   ref names exactly one live `Arc<Series>`: readers resolve it through the shared live
//!   series map (`live.rs`) and never decode labels; only segments of an earlier process
//!   (replay after a restart) are decoded, per reader, one segment at a time.
//! - Cost: each segment repeats the labels of its live series (~100 bytes per series per
//!   segment, a few % of a 128 MiB segment at 100k series).
//!
//! # Durability
//! [`Wal::append`] writes a scrape's records with one `write(2)` into the page cache before
//! it returns, so a killed process loses nothing appended. A power loss can cost what was
//! appended since the last fsync: at most [`WalOptions::fsync_interval`] (default 1 s) plus
//! the fsync time. Sealed segments are fsynced on rotation. fsync runs on a background
//! thread, never on the scrape path.
//!
//! # How remote write reads it
//! Each remote-write queue opens one [`WalReader`] with its endpoint id (a hash of url and
//! name) and runs a task (`remote_write/wal_feed.rs`) that reads batches of [`Sample`]s in
//! WAL order, moves them into its shards (waiting, instead of dropping, while a shard is
//! full: the backpressure that keeps memory bounded) and commits the reader's position
//! once everything before it was acknowledged (about once a second: a commit fsyncs).
//! Shards are chosen by a hash of the labels, not by ref, so that per-series order holds
//! across a restart, where the same series gets a new ref. [`WalSink`] is the scrape
//! loops' sink.
//!
//! [`Sample`]: crate::series::Sample

mod disk;
mod lag;
mod live;
mod metrics;
mod position;
mod reader;
mod record;
mod resolve;
mod segment;
mod sink;
#[cfg(test)]
mod tests;
mod truncate;
mod writer;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

pub use metrics::{WalDropReason, WalMetrics};
pub use position::Delivered;
pub use reader::{StartAt, WalReader};
pub use sink::WalSink;
pub use writer::Wal;

/// Default segment size: 128 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;
/// Default disk bound: 8 GiB (about 800 million samples).
pub const DEFAULT_MAX_BYTES: u64 = 8 << 30;
/// Default interval between fsyncs of the segment being written.
pub const DEFAULT_FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Smallest accepted segment size (tests use tiny segments).
pub const MIN_SEGMENT_SIZE: u64 = 256;

/// Where and how the WAL is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// The WAL directory, normally `<storage.path>/wal`.
    pub dir: PathBuf,
    /// A segment is sealed once it reaches this size (one scrape's records may overshoot).
    pub segment_size: u64,
    /// Disk bound, checked at every rotation: past it the oldest segments are deleted even
    /// if a reader still needs them (counted per reader). Usage stays below
    /// `max_bytes + segment_size`.
    pub max_bytes: u64,
    /// How often the segment being written is fsynced: the power-loss window.
    pub fsync_interval: Duration,
}

impl WalOptions {
    /// Defaults for a WAL under `storage_path` (in `<storage_path>/wal`).
    pub fn new(storage_path: impl Into<PathBuf>) -> Self {
        Self {
            dir: storage_path.into().join("wal"),
            segment_size: DEFAULT_SEGMENT_SIZE,
            max_bytes: DEFAULT_MAX_BYTES,
            fsync_interval: DEFAULT_FSYNC_INTERVAL,
        }
    }

    fn validate(&self) -> Result<(), OpenError> {
        let invalid = |reason: String| Err(OpenError::Invalid { reason });
        if self.segment_size < MIN_SEGMENT_SIZE {
            return invalid(format!(
                "segment_size {} is below the minimum {MIN_SEGMENT_SIZE}",
                self.segment_size
            ));
        }
        if self.max_bytes < self.segment_size.saturating_mul(2) {
            return invalid(format!(
                "max_bytes {} must be at least two segments ({})",
                self.max_bytes,
                self.segment_size.saturating_mul(2)
            ));
        }
        if self.fsync_interval.is_zero() {
            return invalid("fsync_interval must be positive".into());
        }
        Ok(())
    }
}

/// A place in the WAL: just after a record of a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Segment sequence number.
    pub segment: u64,
    /// Byte offset in that segment.
    pub offset: u64,
}

/// The WAL cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Options out of range.
    #[error("wal options: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The directory cannot be created or written (permissions, read-only mount).
    #[error(
        "wal directory {path} is not writable (check its permissions and that the volume is not read-only): {source}"
    )]
    NotWritable {
        /// The file or directory that refused.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Any other I/O error while listing, scanning or repairing segments.
    #[error("wal {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl OpenError {
    fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        match source.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                Self::NotWritable { path, source }
            }
            _ => Self::Io { path, source },
        }
    }
}

/// A scrape's samples could not be written (they are lost; the sink counts them).
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Writing to the current segment failed (disk full, I/O error).
    #[error("wal segment {path}: write failed: {source}")]
    Write {
        /// The segment.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A new segment could not be created.
    #[error("wal segment {path}: cannot create: {source}")]
    Rotate {
        /// The segment that was to be created.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// A reader cannot be opened or cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// The endpoint id cannot be a file name.
    #[error("wal reader id {id:?} is invalid: use 1-128 characters of [A-Za-z0-9_.-]")]
    InvalidId {
        /// The id given.
        id: String,
    },
    /// Another reader with this id is open.
    #[error("wal reader {id:?} is already open")]
    InUse {
        /// The id given.
        id: String,
    },
    /// Reading a segment or writing the position file failed.
    #[error("wal reader {id:?}: {path}: {source}")]
    Io {
        /// The reader.
        id: String,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// What opening the WAL found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Segments found.
    pub segments: usize,
    /// Samples in the readable records of those segments.
    pub samples: u64,
    /// The last segment ended in a torn or damaged record and was cut there.
    pub torn_tail: Option<Damage>,
    /// Damaged records inside earlier segments: readers skip from there to the next
    /// segment.
    pub corruptions: Vec<Damage>,
}

/// Where a segment is damaged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Segment and offset of the first bad byte (the end of the last good record).
    pub at: Position,
    /// Bytes from there to the end of the segment that cannot be read.
    pub bytes_lost: u64,
}
