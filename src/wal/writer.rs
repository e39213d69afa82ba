//! The writer: open and repair, append, rotation, fsync thread, truncation, disk bound.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use super::disk::{create_segment, load_positions, scan_all};
use super::live::LiveSeries;
use super::metrics::{RecordKind, RecordLabels, WalMetrics};
use super::reader::{StartAt, WalReader};
use super::record::{self, MAX_SAMPLES_PER_RECORD, RecordType, SERIES_RECORD_TARGET};
use super::segment;
use super::{AppendError, OpenError, Position, ReaderError, RepairReport, WalOptions};
use crate::series::Sample;

/// Name of the directory of reader position files inside the WAL directory.
pub(crate) const READERS_DIR: &str = "readers";
/// Samples-per-segment entries kept for segments the disk bound deleted.
pub(crate) const BOUND_DELETED_KEPT: usize = 4096;

/// The WAL: shared by every appender (`&self` methods) and the readers it opens.
///
/// Dropping it stops the fsync thread after a last fsync; open readers keep working.
pub struct Wal {
    inner: Arc<Inner>,
    sync_thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.inner.opts.dir)
            .field("head", &*self.inner.head.borrow())
            .finish_non_exhaustive()
    }
}

/// State shared by the writer, the fsync thread and the readers.
pub(crate) struct Inner {
    pub opts: WalOptions,
    writer: Mutex<Writer>,
    /// Segments on disk; lock order: `writer` before `index`.
    pub index: Mutex<Index>,
    /// Where appended data ends; readers wait on it in tail mode.
    pub head: watch::Sender<Head>,
    pub readers: Mutex<Readers>,
    pub metrics: WalMetrics,
    sync_tx: Mutex<mpsc::Sender<SyncMsg>>,
    /// Series logged by this process; lock order: `writer` before `index` before `live`.
    pub live: Mutex<LiveSeries>,
    /// The first segment written by this process: readers resolve refs of this one and
    /// later ones through `live`, and decode earlier ones' Series records.
    pub first_own_segment: u64,
}

/// End of the appended data, published after every append.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Head {
    pub segment: u64,
    pub offset: u64,
    /// Samples appended since the oldest segment present at open (lag accounting).
    pub samples: u64,
    /// Newest sample timestamp appended, ms.
    pub newest_ts: i64,
}

/// One segment on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SegInfo {
    /// Size (for the head: as of its creation; only sealed sizes are summed).
    pub bytes: u64,
    /// Samples in it (the head's count is in [`Head`]).
    pub samples: u64,
    /// Samples in all earlier segments present at open and since.
    pub first_sample: u64,
}

/// The segments on disk and what the disk bound deleted.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub segs: BTreeMap<u64, SegInfo>,
    /// Samples of segments deleted by the disk bound, for readers' drop counts.
    pub bound_deleted: BTreeMap<u64, u64>,
}

/// Reader registrations: committed positions hold back truncation.
#[derive(Debug, Default)]
pub(crate) struct Readers {
    pub committed: HashMap<String, Position>,
    pub open: HashSet<String>,
}

struct Writer {
    /// None after a failed rotation: the next append retries it.
    file: Option<File>,
    seq: u64,
    size: u64,
    samples: u64,
    first_sample: u64,
    newest_ts: i64,
    /// Encode buffer, reused by every append.
    buf: Vec<u8>,
    /// A write failed: the segment may end in a partial record, start a new one.
    broken: bool,
}

enum SyncMsg {
    /// A sealed segment: fsync it, then the directory.
    Seal(File),
    /// Final fsync and exit.
    Stop,
}

impl Wal {
    /// Opens (creating if needed) the WAL in `opts.dir`: scans existing segments, cuts a torn
    /// tail, starts a new segment and the fsync thread.
    pub fn open(opts: WalOptions, metrics: WalMetrics) -> Result<(Wal, RepairReport), OpenError> {
        opts.validate()?;
        let dir = opts.dir.clone();
        std::fs::create_dir_all(dir.join(READERS_DIR))
            .map_err(|e| OpenError::io(dir.join(READERS_DIR), e))?;
        let seqs = segment::list(&dir).map_err(|e| OpenError::io(&dir, e))?;
        let (mut index, report) = scan_all(&dir, &seqs)?;
        metrics
            .corruptions
            .inc_by((report.corruptions.len() + usize::from(report.torn_tail.is_some())) as u64);

        let seq = seqs.last().map_or(1, |s| s + 1);
        let path = segment::path(&dir, seq);
        let file = create_segment(&path).map_err(|e| OpenError::io(&path, e))?;
        sync_dir(&dir).map_err(|e| OpenError::io(&dir, e))?;
        let first_sample = report.samples;
        index.segs.insert(
            seq,
            SegInfo {
                bytes: 0,
                samples: 0,
                first_sample,
            },
        );
        metrics.segments.set(index.segs.len() as i64);
        let (head, _) = watch::channel(Head {
            segment: seq,
            offset: 0,
            samples: first_sample,
            newest_ts: i64::MIN,
        });
        let readers = Readers {
            committed: load_positions(&dir.join(READERS_DIR))?,
            open: HashSet::new(),
        };
        let (sync_tx, sync_rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            writer: Mutex::new(Writer {
                file: Some(file),
                seq,
                size: 0,
                samples: 0,
                first_sample,
                newest_ts: i64::MIN,
                buf: Vec::with_capacity(64 << 10),
                broken: false,
            }),
            index: Mutex::new(index),
            head,
            readers: Mutex::new(readers),
            metrics,
            sync_tx: Mutex::new(sync_tx),
            live: Mutex::default(),
            first_own_segment: seq,
            opts,
        });
        inner.enforce_bound(seq, 0);
        let weak = Arc::downgrade(&inner);
        let interval = inner.opts.fsync_interval;
        let sync_thread = std::thread::Builder::new()
            .name("shoal-wal-sync".into())
            .spawn(move || run_sync(weak, sync_rx, interval))
            .map_err(|e| OpenError::io(&dir, e))?;
        tracing::info!(dir = %dir.display(), segment = seq, segments = report.segments, samples = report.samples, "wal opened");
        Ok((
            Wal {
                inner,
                sync_thread: Some(sync_thread),
            },
            report,
        ))
    }

    /// Appends one scrape's samples, logging series not yet in the current segment first.
    /// One `write(2)`; no fsync. On error the samples are not in the WAL.
    pub fn append(&self, samples: &[Sample]) -> Result<(), AppendError> {
        if samples.is_empty() {
            return Ok(());
        }
        let inner = &*self.inner;
        let mut w = inner.lock_writer();
        if w.broken || w.file.is_none() || w.size >= inner.opts.segment_size {
            inner.rotate(&mut w)?;
        }
        let w = &mut *w;
        w.buf.clear();
        let (mut series_records, mut sample_records) = (0u64, 0u64);
        let mut live = inner.lock_live();
        for chunk in samples.chunks(MAX_SAMPLES_PER_RECORD) {
            series_records += encode_series(&mut w.buf, &mut live, w.seq, chunk);
            let start = record::begin(&mut w.buf, RecordType::Samples);
            record::put_samples(&mut w.buf, chunk);
            record::finish(&mut w.buf, start);
            sample_records += 1;
        }
        drop(live);
        let path = || segment::path(&inner.opts.dir, w.seq);
        let Some(file) = w.file.as_mut() else {
            return Err(AppendError::Write {
                path: path(),
                source: std::io::ErrorKind::NotFound.into(),
            });
        };
        if let Err(source) = file.write_all(&w.buf) {
            // Cut the partial record so readers never see it; the next append rotates.
            let _ = file.set_len(w.size);
            w.broken = true;
            return Err(AppendError::Write {
                path: path(),
                source,
            });
        }
        let n = w.buf.len() as u64;
        w.size += n;
        w.samples += samples.len() as u64;
        let newest = samples
            .iter()
            .map(|s| s.timestamp)
            .max()
            .unwrap_or(i64::MIN);
        w.newest_ts = w.newest_ts.max(newest);
        inner.publish(w);
        let m = &inner.metrics;
        m.bytes_written.inc_by(n);
        m.samples_appended.inc_by(samples.len() as u64);
        m.records
            .get_or_create(&RecordLabels {
                kind: RecordKind::samples,
            })
            .inc_by(sample_records);
        if series_records > 0 {
            m.records
                .get_or_create(&RecordLabels {
                    kind: RecordKind::series,
                })
                .inc_by(series_records);
        }
        Ok(())
    }

    /// Fsyncs the segment being written now (shutdown, tests).
    pub fn sync(&self) -> std::io::Result<()> {
        self.inner.sync_head()
    }

    /// Deletes the segments every registered reader has committed past; returns how many.
    /// Runs by itself on every rotation and fsync tick. Without any registered reader
    /// nothing is deleted (the disk bound still applies).
    pub fn truncate(&self) -> usize {
        self.inner.truncate()
    }

    /// Opens the reader `id` (an endpoint id, used as a file name) at its committed position,
    /// or at `start` if it has none.
    pub fn reader(&self, id: &str, start: StartAt) -> Result<WalReader, ReaderError> {
        WalReader::open(self.inner.clone(), id, start)
    }

    /// Forgets reader `id` (an endpoint removed from the config) so it no longer holds back
    /// truncation; deletes its position file.
    pub fn remove_reader(&self, id: &str) -> std::io::Result<()> {
        self.inner.lock_readers().committed.remove(id);
        super::position::remove(&self.inner.opts.dir.join(READERS_DIR).join(id))
    }

    /// Ids of the readers with a committed position (from disk or this run), sorted.
    pub fn reader_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .inner
            .lock_readers()
            .committed
            .keys()
            .cloned()
            .collect();
        ids.sort();
        ids
    }

    /// Sequence numbers of the segments on disk, oldest first.
    pub fn segments(&self) -> Vec<u64> {
        self.inner.lock_index().segs.keys().copied().collect()
    }

    /// Newest sample timestamp appended by this process, ms (`i64::MIN` before any).
    pub fn newest_timestamp(&self) -> i64 {
        self.inner.head.borrow().newest_ts
    }

    /// Where appended data ends now.
    pub fn head(&self) -> Position {
        let h = self.inner.head.borrow();
        Position {
            segment: h.segment,
            offset: h.offset,
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.inner.lock_sync_tx().send(SyncMsg::Stop);
        if let Some(t) = self.sync_thread.take() {
            let _ = t.join();
        }
    }
}

impl Inner {
    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        // Writer state stays consistent across a panic elsewhere (no partial updates).
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lock_index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lock_live(&self) -> MutexGuard<'_, LiveSeries> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lock_readers(&self) -> MutexGuard<'_, Readers> {
        self.readers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_sync_tx(&self) -> MutexGuard<'_, mpsc::Sender<SyncMsg>> {
        self.sync_tx.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, w: &Writer) {
        self.head.send_replace(Head {
            segment: w.seq,
            offset: w.size,
            samples: w.first_sample + w.samples,
            newest_ts: w.newest_ts,
        });
    }

    /// Seals the current segment (fsync in the background) and starts the next one.
    fn rotate(&self, w: &mut Writer) -> Result<(), AppendError> {
        if let Some(old) = w.file.take() {
            let _ = self.lock_sync_tx().send(SyncMsg::Seal(old));
        }
        if let Some(info) = self.lock_index().segs.get_mut(&w.seq) {
            info.bytes = w.size;
            info.samples = w.samples;
        }
        let next = w.seq + 1;
        let path = segment::path(&self.opts.dir, next);
        let file = create_segment(&path).map_err(|source| {
            w.broken = true;
            AppendError::Rotate { path, source }
        })?;
        w.file = Some(file);
        w.seq = next;
        w.first_sample += w.samples;
        w.size = 0;
        w.samples = 0;
        w.broken = false;
        self.lock_index().segs.insert(
            next,
            SegInfo {
                bytes: 0,
                samples: 0,
                first_sample: w.first_sample,
            },
        );
        self.metrics.segments.inc();
        self.publish(w);
        self.enforce_bound(w.seq, w.size);
        self.truncate();
        Ok(())
    }

    fn sync_head(&self) -> std::io::Result<()> {
        let file = match self.lock_writer().file.as_ref() {
            Some(f) => f.try_clone()?,
            None => return Ok(()),
        };
        self.timed_sync(&file)
    }

    fn timed_sync(&self, file: &File) -> std::io::Result<()> {
        let start = crate::model::clock::thread_now();
        let r = file.sync_data();
        self.metrics
            .fsync_duration
            .observe(start.elapsed().as_secs_f64());
        if r.is_err() {
            self.metrics.fsync_errors.inc();
        }
        r
    }
}

/// Encodes a Series record for the refs of `chunk` not yet logged in segment `seg`; returns
/// the number of records written (0 when every series is already logged).
fn encode_series(buf: &mut Vec<u8>, live: &mut LiveSeries, seg: u64, chunk: &[Sample]) -> u64 {
    let mut records = 0;
    let mut start = record::begin(buf, RecordType::Series);
    for s in chunk {
        if live.needs_record(&s.series, seg) {
            record::put_series(buf, s.series.id().0, s.series.labels());
            if buf.len() - start > SERIES_RECORD_TARGET {
                record::finish(buf, start);
                records += 1;
                start = record::begin(buf, RecordType::Series);
            }
        }
    }
    let before = buf.len();
    record::finish(buf, start);
    if buf.len() == before {
        records += 1;
    }
    records
}

/// Fsyncs a directory so that created, renamed and deleted entries survive power loss.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The fsync thread: the head every `interval`, sealed segments as they come; truncation
/// on each tick. Holds only a weak reference so that dropping the WAL ends it.
fn run_sync(inner: Weak<Inner>, rx: mpsc::Receiver<SyncMsg>, interval: Duration) {
    let mut next_tick = crate::model::clock::thread_now() + interval;
    loop {
        let wait = next_tick.saturating_duration_since(crate::model::clock::thread_now());
        let msg = rx.recv_timeout(wait);
        let Some(inner) = inner.upgrade() else { return };
        match msg {
            Ok(SyncMsg::Seal(file)) => {
                if let Err(e) = inner.timed_sync(&file) {
                    tracing::error!(error = %e, "wal fsync of a sealed segment failed");
                }
                if let Err(e) = sync_dir(&inner.opts.dir) {
                    tracing::error!(error = %e, "wal directory fsync failed");
                }
            }
            Ok(SyncMsg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                if let Err(e) = inner.sync_head() {
                    tracing::error!(error = %e, "wal final fsync failed");
                }
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                next_tick = crate::model::clock::thread_now() + interval;
                if let Err(e) = inner.sync_head() {
                    tracing::error!(error = %e, "wal fsync failed");
                }
                inner.truncate();
            }
        }
    }
}

/// Returns `path`'s parent readers directory path for reader `id`.
pub(crate) fn reader_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(READERS_DIR).join(id)
}
