//! A reader: one per remote-write endpoint, with a durable committed position.
//!
//! Reads segments from disk in chunks (memory: one chunk plus the series of the current
//! segment), yields samples with their series resolved, follows the writer (tail mode),
//! and skips what the disk bound deleted or damage made unreadable, counting it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use super::live::RefMap;
use super::metrics::{ReaderLabels, WalDropReason};
use super::record::{RecordType, SamplesIter};
use super::resolve::{define, resolve};
use super::segment::{self, Chunks, Next};
use super::writer::{Head, Inner, reader_path, sync_dir};
use super::{Position, ReaderError};
use crate::series::{Sample, Series};

/// Read batches remembered for lag accounting until committed.
const INFLIGHT_KEPT: usize = 1024;
/// Position file format marker.
const POSITION_VERSION: &str = "v1";
/// Position file format marker with per-shard progress.
const SHARDS_VERSION: &str = "v2";
/// Suffix of the acknowledgement file written in place (see [`WalReader::commit_shards`]).
pub(crate) const ACK_SUFFIX: &str = ".ack";
/// Bound on the shard count read from a position file (a damaged file is not trusted).
const MAX_SHARDS: usize = 4096;

/// Where a reader without a committed position starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest segment on disk: everything the WAL still holds.
    Oldest,
    /// The end of the WAL: only what is appended from now on.
    Head,
}

/// Reads the WAL for one endpoint. Not shared: one task owns it.
pub struct WalReader {
    inner: Arc<Inner>,
    id: String,
    pos_path: PathBuf,
    seg: u64,
    file: Option<File>,
    /// Length of the current segment once it is sealed (it no longer changes).
    sealed_len: Option<u64>,
    chunks: Chunks,
    /// Series defined so far in the current segment, when it was written by an earlier
    /// process (this process's segments resolve through the live series map).
    series: RefMap<Arc<Series>>,
    /// Samples consumed in the current segment (read or skipped).
    read_in_seg: u64,
    committed: Position,
    /// Per shard of the sender, the end of what that shard delivered past `committed`
    /// (see [`WalReader::commit_shards`]); empty when nothing was delivered past it.
    shard_ends: Vec<Position>,
    /// Whether the last store was without fsync (see [`WalReader::sync`]).
    unsynced: bool,
    /// The acknowledgement file (`<id>.ack`), rewritten in place on every store: no new
    /// inode per acknowledgement (a create and rename per ack cost a third of the WAL's
    /// CPU); opened at the first store.
    ack: Option<AckFile>,
    /// (end of a read batch, samples before it, newest timestamp read), not yet committed.
    inflight: VecDeque<(Position, u64, i64)>,
    newest_read_ts: i64,
    /// Samples before, and newest timestamp at, the last committed position (lag gauges).
    committed_at: Option<(u64, i64)>,
    head: watch::Receiver<Head>,
}

impl std::fmt::Debug for WalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalReader")
            .field("id", &self.id)
            .field("position", &self.position())
            .field("committed", &self.committed)
            .finish_non_exhaustive()
    }
}

impl WalReader {
    pub(crate) fn open(inner: Arc<Inner>, id: &str, start: StartAt) -> Result<Self, ReaderError> {
        let valid = (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && id != "."
            && id != ".."
            // Those are the reader's own side files.
            && !id.ends_with(".tmp")
            && !id.ends_with(ACK_SUFFIX);
        if !valid {
            return Err(ReaderError::InvalidId { id: id.to_owned() });
        }
        if !inner.lock_readers().open.insert(id.to_owned()) {
            return Err(ReaderError::InUse { id: id.to_owned() });
        }
        let pos_path = reader_path(&inner.opts.dir, id);
        let head = inner.head.subscribe();
        let mut r = WalReader {
            id: id.to_owned(),
            pos_path,
            seg: 0,
            file: None,
            sealed_len: None,
            chunks: Chunks::default(),
            series: RefMap::default(),
            read_in_seg: 0,
            committed: Position::default(),
            shard_ends: Vec::new(),
            unsynced: false,
            ack: None,
            inflight: VecDeque::new(),
            newest_read_ts: i64::MIN,
            committed_at: None,
            head,
            inner,
        };
        let (pos, shard_ends) = match r.load_position()? {
            Some(d) => (d.committed, d.shard_ends),
            None => (r.start_position(start), Vec::new()),
        };
        r.seek(pos)?;
        // Kept through the store: what the last process delivered past `pos`.
        r.store(r.position(), &shard_ends, true)?;
        Ok(r)
    }

    /// The reader's id (endpoint).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Just after the last record read.
    pub fn position(&self) -> Position {
        Position {
            segment: self.seg,
            offset: self.chunks.offset(),
        }
    }

    /// Samples appended to the WAL so far (counted from the oldest segment at open): the
    /// incoming rate of whoever reads it.
    pub fn appended(&self) -> u64 {
        self.head.borrow().samples
    }

    /// The last committed position (where a restart resumes).
    pub fn committed(&self) -> Position {
        self.committed
    }

    /// Appends up to about `max` samples (whole records) to `out`, without waiting; returns
    /// the position after them, to [`commit`](Self::commit) once they are delivered. Adds
    /// nothing when the reader has caught up with the writer.
    pub fn read(&mut self, out: &mut Vec<Sample>, max: usize) -> Result<Position, ReaderError> {
        let before = out.len();
        while out.len() - before < max.max(1) {
            if !self.step(out)? {
                break;
            }
        }
        let pos = self.position();
        if out.len() > before {
            if self.inflight.len() >= INFLIGHT_KEPT {
                self.inflight.pop_front();
            }
            self.inflight
                .push_back((pos, self.samples_before(), self.newest_read_ts));
        }
        Ok(pos)
    }

    /// Waits until the writer has appended past this reader's position (tail mode).
    pub async fn wait(&mut self) {
        let Position { segment, offset } = self.position();
        // The sender lives in `inner`, which this reader holds: `Err` cannot happen.
        let _ = self
            .head
            .wait_for(|h| h.segment != segment || h.offset > offset)
            .await;
    }

    /// Reads at least one sample, waiting for the writer when caught up.
    pub async fn next_batch(
        &mut self,
        out: &mut Vec<Sample>,
        max: usize,
    ) -> Result<Position, ReaderError> {
        let before = out.len();
        loop {
            let pos = self.read(out, max)?;
            if out.len() > before {
                return Ok(pos);
            }
            self.wait().await;
        }
    }

    /// Records that everything up to `pos` was delivered: stored durably (temp file,
    /// fsync, rename) so that a restart resumes there, and lets truncation go past it.
    pub fn commit(&mut self, pos: Position) -> Result<(), ReaderError> {
        self.store(pos, &[], true)
    }

    /// Like [`WalReader::commit`] (fsynced only when `durable`), and also what a sender with
    /// `shard_ends.len()` shards delivered past `pos`: shard `i` every sample of its series
    /// in records ending at or before `shard_ends[i]`. A restart sends those samples once,
    /// not again, when one shard got ahead of another before a stop or a crash.
    pub fn commit_shards(
        &mut self,
        pos: Position,
        shard_ends: &[Position],
        durable: bool,
    ) -> Result<(), ReaderError> {
        self.store(pos, shard_ends, durable)
    }

    /// The per-shard progress past the committed position last stored (at open: what the
    /// previous process stored; see [`WalReader::commit_shards`]); empty when none.
    pub fn shard_ends(&self) -> &[Position] {
        &self.shard_ends
    }

    /// Stores the committed position with fsync if the last store was without (a
    /// store without fsync survives a killed process, the page cache does, but not a power
    /// loss; cheap enough after every acknowledgement, so that a `kill -9` makes the next
    /// start resend only the sends in flight).
    pub fn sync(&mut self) -> Result<(), ReaderError> {
        if !self.unsynced {
            return Ok(());
        }
        let ends = self.shard_ends.clone();
        self.store(self.committed, &ends, true)
    }

    fn store(
        &mut self,
        pos: Position,
        shard_ends: &[Position],
        durable: bool,
    ) -> Result<(), ReaderError> {
        let tmp = with_suffix(&self.pos_path, ".tmp");
        let io = |path: &PathBuf, source| ReaderError::Io {
            id: self.id.clone(),
            path: path.clone(),
            source,
        };
        let delivered = Delivered {
            committed: pos,
            shard_ends: if shard_ends.iter().any(|e| *e > pos) {
                shard_ends.to_vec()
            } else {
                Vec::new()
            },
        };
        let text = delivered.to_string();
        // Every store: in place, no fsync (survives a killed process, the page cache does).
        let ack_path = ack_path(&self.pos_path);
        if self.ack.is_none() {
            self.ack = Some(AckFile::open(&ack_path).map_err(|e| io(&ack_path, e))?);
        }
        if let Some(ack) = self.ack.as_mut() {
            ack.write(&text).map_err(|e| io(&ack_path, e))?;
        }
        // Durable stores (about once a second): temp file, fsync, rename, directory
        // fsync; what a power loss falls back to when the ack file is torn.
        if durable {
            off_worker(|| {
                File::create(&tmp)
                    .and_then(|mut f| {
                        f.write_all(text.as_bytes())?;
                        f.sync_data()
                    })
                    .map_err(|e| io(&tmp, e))?;
                std::fs::rename(&tmp, &self.pos_path).map_err(|e| io(&self.pos_path, e))?;
                if let Some(dir) = self.pos_path.parent() {
                    sync_dir(dir).map_err(|e| io(&dir.to_path_buf(), e))?;
                }
                Ok::<(), ReaderError>(())
            })?;
        }
        self.unsynced = !durable;
        self.committed = pos;
        self.shard_ends = delivered.shard_ends;
        self.inner
            .lock_readers()
            .committed
            .insert(self.id.clone(), pos);
        self.update_lag();
        Ok(())
    }

    fn update_lag(&mut self) {
        let mut done = None;
        while let Some(&(p, samples, ts)) = self.inflight.front() {
            if p > self.committed {
                break;
            }
            done = Some((samples, ts));
            self.inflight.pop_front();
        }
        let head = *self.head.borrow();
        let labels = ReaderLabels {
            endpoint: self.id.clone(),
        };
        let m = &self.inner.metrics;
        if let Some((samples, ts)) = done {
            self.committed_at = Some((samples, ts));
            let lag = head.samples.saturating_sub(samples);
            m.reader_lag_samples
                .get_or_create(&labels)
                .set(i64::try_from(lag).unwrap_or(i64::MAX));
            let secs = (head.newest_ts.saturating_sub(ts)).max(0) as f64 / 1000.0;
            m.reader_lag_seconds.get_or_create(&labels).set(secs);
        } else if self.inflight.is_empty() && self.committed == self.position() {
            let before = self.samples_before();
            self.committed_at = Some((before, self.newest_read_ts));
            let lag = head.samples.saturating_sub(before);
            m.reader_lag_samples
                .get_or_create(&labels)
                .set(i64::try_from(lag).unwrap_or(i64::MAX));
        }
    }

    /// Updates the lag gauges while nothing gets committed (an outage): the writer moves
    /// on, the committed position does not.
    pub fn refresh_lag(&self) {
        let Some((samples, ts)) = self.committed_at else {
            return;
        };
        let head = *self.head.borrow();
        let labels = ReaderLabels {
            endpoint: self.id.clone(),
        };
        let m = &self.inner.metrics;
        let lag = head.samples.saturating_sub(samples);
        m.reader_lag_samples
            .get_or_create(&labels)
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
        if ts != i64::MIN {
            let secs = (head.newest_ts.saturating_sub(ts)).max(0) as f64 / 1000.0;
            m.reader_lag_seconds.get_or_create(&labels).set(secs);
        }
    }

    /// Samples before the read position, counted from the oldest segment at open.
    fn samples_before(&self) -> u64 {
        let idx = self.inner.lock_index();
        idx.segs.get(&self.seg).map_or(0, |s| s.first_sample) + self.read_in_seg
    }

    /// One record or one segment move; false when caught up with the writer.
    fn step(&mut self, out: &mut Vec<Sample>) -> Result<bool, ReaderError> {
        if self.skip_deleted() {
            return Ok(true);
        }
        let head = *self.head.borrow();
        let at_head = self.seg >= head.segment;
        let path = segment::path(&self.inner.opts.dir, self.seg);
        let io = |id: &str, source| ReaderError::Io {
            id: id.to_owned(),
            path: path.clone(),
            source,
        };
        if self.file.is_none() {
            match File::open(&path) {
                Ok(f) => self.file = Some(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound && !at_head => {
                    tracing::warn!(endpoint = %self.id, segment = self.seg, "wal segment vanished; skipping it");
                    self.next_segment();
                    return Ok(true);
                }
                Err(e) => return Err(io(&self.id, e)),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        let limit = match (at_head, self.sealed_len) {
            (true, _) => head.offset,
            (false, Some(len)) => len,
            (false, None) => {
                let len = file.metadata().map_err(|e| io(&self.id, e))?.len();
                self.sealed_len = Some(len);
                len
            }
        };
        let next = self.chunks.next(file, limit).map_err(|e| io(&self.id, e))?;
        let outcome = match next {
            Next::Record { ty, payload } => {
                let own = self.seg >= self.inner.first_own_segment;
                let (n, unknown, newest, ok) = match ty {
                    // This process's series are in the live map already.
                    RecordType::Series if own => (0, 0, i64::MIN, true),
                    RecordType::Series => (0, 0, i64::MIN, define(&mut self.series, payload)),
                    RecordType::Samples if own => {
                        let live = self.inner.lock_live();
                        resolve(|id| live.get(id), payload, out)
                    }
                    RecordType::Samples => resolve(|id| self.series.get(&id), payload, out),
                };
                self.read_in_seg += n;
                self.newest_read_ts = self.newest_read_ts.max(newest);
                self.inner
                    .metrics
                    .drop(&self.id, WalDropReason::unknown_series, unknown);
                ok
            }
            Next::End if at_head => return Ok(false),
            Next::End => {
                self.next_segment();
                return Ok(true);
            }
            Next::Bad(_) => false,
        };
        if !outcome {
            self.inner.metrics.corruptions.inc();
            tracing::warn!(endpoint = %self.id, segment = self.seg, offset = self.chunks.offset(), "damaged wal record; skipping to the next segment");
            if at_head {
                // Cannot happen (the head offset is always a record end); do not spin.
                return Ok(false);
            }
            self.next_segment();
        }
        Ok(true)
    }

    /// If the current segment was deleted by the disk bound, counts what this reader lost
    /// and moves on; true if it moved.
    fn skip_deleted(&mut self) -> bool {
        let idx = self.inner.lock_index();
        if idx.segs.contains_key(&self.seg) {
            return false;
        }
        let Some((&next, _)) = idx.segs.range(self.seg..).next() else {
            return false;
        };
        let mut lost = idx
            .bound_deleted
            .get(&self.seg)
            .map_or(0, |n| n.saturating_sub(self.read_in_seg));
        lost += idx
            .bound_deleted
            .range(self.seg + 1..next)
            .map(|(_, n)| n)
            .sum::<u64>();
        drop(idx);
        tracing::warn!(endpoint = %self.id, from_segment = self.seg, to_segment = next, samples = lost, reason = "disk_bound", "wal reader skipped deleted segments");
        self.inner
            .metrics
            .drop(&self.id, WalDropReason::disk_bound, lost);
        self.enter(next);
        true
    }

    fn next_segment(&mut self) {
        let next = self
            .inner
            .lock_index()
            .segs
            .range(self.seg + 1..)
            .next()
            .map_or(self.seg + 1, |(s, _)| *s);
        self.enter(next);
    }

    fn enter(&mut self, seg: u64) {
        self.seg = seg;
        self.file = None;
        self.sealed_len = None;
        self.chunks.reset(0);
        self.series.clear();
        if seg >= self.inner.first_own_segment {
            // Replay of earlier processes' segments is over: give its map back.
            self.series.shrink_to_fit();
        }
        self.read_in_seg = 0;
    }

    /// Moves to `pos`: enters its segment and re-reads the segment's start for the series
    /// defined there (samples are counted, not returned).
    fn seek(&mut self, pos: Position) -> Result<(), ReaderError> {
        self.enter(pos.segment);
        if pos.offset == 0 || self.skip_deleted() {
            return Ok(());
        }
        let path = segment::path(&self.inner.opts.dir, self.seg);
        let io = |source| ReaderError::Io {
            id: self.id.clone(),
            path: path.clone(),
            source,
        };
        let mut file = File::open(&path).map_err(io)?;
        loop {
            match self.chunks.next(&mut file, pos.offset).map_err(io)? {
                Next::Record {
                    ty: RecordType::Series,
                    payload,
                } => {
                    if self.seg < self.inner.first_own_segment {
                        define(&mut self.series, payload);
                    }
                }
                Next::Record { payload, .. } => {
                    self.read_in_seg += SamplesIter::count(payload).unwrap_or(0);
                }
                Next::End | Next::Bad(_) => break,
            }
        }
        if self.chunks.offset() != pos.offset {
            tracing::warn!(endpoint = %self.id, segment = self.seg, committed = pos.offset, resumed = self.chunks.offset(), "wal reader position is not at a record end; resuming at the last record before it");
        }
        self.file = Some(file);
        Ok(())
    }

    fn load_position(&self) -> Result<Option<Delivered>, ReaderError> {
        let text = match std::fs::read_to_string(&self.pos_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ReaderError::Io {
                    id: self.id.clone(),
                    path: self.pos_path.clone(),
                    source,
                });
            }
        };
        // The ack file is newer unless torn (a power loss) or behind (a failed write).
        let ack = std::fs::read_to_string(ack_path(&self.pos_path))
            .ok()
            .and_then(|t| parse_delivered(checked(&t)?));
        let delivered = match (ack, parse_delivered(&text)) {
            (Some(a), Some(d)) if a.committed >= d.committed => Some(a),
            (Some(a), None) => Some(a),
            (_, d) => d,
        };
        let head = self.head.borrow().segment;
        let oldest = || Delivered {
            committed: self.start_position(StartAt::Oldest),
            shard_ends: Vec::new(),
        };
        match delivered {
            Some(d) if d.committed.segment <= head => Ok(Some(d)),
            Some(d) => {
                tracing::warn!(endpoint = %self.id, segment = d.committed.segment, head, "wal reader position is past the end of the wal; starting from the oldest segment");
                Ok(Some(oldest()))
            }
            None => {
                // Re-sending from the oldest data beats losing it.
                tracing::warn!(endpoint = %self.id, path = %self.pos_path.display(), content = %text.escape_debug(), "damaged wal reader position; starting from the oldest segment");
                Ok(Some(oldest()))
            }
        }
    }

    fn start_position(&self, start: StartAt) -> Position {
        let head = *self.head.borrow();
        match start {
            StartAt::Head => Position {
                segment: head.segment,
                offset: head.offset,
            },
            StartAt::Oldest => Position {
                segment: self
                    .inner
                    .lock_index()
                    .segs
                    .keys()
                    .next()
                    .copied()
                    .unwrap_or(head.segment),
                offset: 0,
            },
        }
    }
}

impl Drop for WalReader {
    fn drop(&mut self) {
        // The committed position stays registered: it still holds back truncation.
        self.inner.lock_readers().open.remove(&self.id);
    }
}

/// Parses a position file (`v1 <segment> <offset>`).
pub(crate) fn parse_position(text: &str) -> Option<Position> {
    parse_delivered(text).map(|d| d.committed)
}

/// A reader's position file: everything before `committed` was delivered, and per shard
/// of the sender, that shard's series up to `shard_ends[i]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Delivered {
    pub committed: Position,
    pub shard_ends: Vec<Position>,
}

/// `v1 SEG OFF` (nothing past it), or `v2 SEG OFF N SEG0 OFF0 … SEGn-1 OFFn-1`.
impl std::fmt::Display for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Position { segment, offset } = self.committed;
        if self.shard_ends.is_empty() {
            return writeln!(f, "{POSITION_VERSION} {segment} {offset}");
        }
        write!(
            f,
            "{SHARDS_VERSION} {segment} {offset} {}",
            self.shard_ends.len()
        )?;
        for e in &self.shard_ends {
            write!(f, " {} {}", e.segment, e.offset)?;
        }
        writeln!(f)
    }
}

pub(crate) fn parse_delivered(text: &str) -> Option<Delivered> {
    let mut parts = text.split_ascii_whitespace();
    let version = parts.next()?;
    let nums = parts
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    let pos = |pair: &[u64]| match *pair {
        [segment, offset] => Some(Position { segment, offset }),
        _ => None,
    };
    match (version, nums.as_slice()) {
        (POSITION_VERSION, [s, o]) => Some(Delivered {
            committed: pos(&[*s, *o])?,
            shard_ends: Vec::new(),
        }),
        (SHARDS_VERSION, [s, o, n, ends @ ..]) => {
            let n = usize::try_from(*n)
                .ok()
                .filter(|n| (1..=MAX_SHARDS).contains(n))?;
            if ends.len() != 2 * n {
                return None;
            }
            Some(Delivered {
                committed: pos(&[*s, *o])?,
                shard_ends: ends.chunks(2).map(pos).collect::<Option<Vec<_>>>()?,
            })
        }
        _ => None,
    }
}

/// Runs blocking disk work (fsyncs) without stalling the other tasks of this runtime
/// worker (scrape loops): on a slow disk an fsync can take longer than a scrape interval.
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// `readers/<id>.ack` next to `readers/<id>`.
pub(crate) fn ack_path(pos_path: &std::path::Path) -> PathBuf {
    with_suffix(pos_path, ACK_SUFFIX)
}

/// `path` with `suffix` appended (ids may hold dots: no extension replacing).
fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A small file rewritten in place at offset 0; shorter contents are padded with spaces
/// (the parser splits on whitespace), so it never needs truncating.
struct AckFile {
    file: File,
    len: usize,
    buf: Vec<u8>,
}

impl AckFile {
    fn open(path: &std::path::Path) -> io::Result<AckFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let len = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
        Ok(AckFile {
            file,
            len,
            buf: Vec::new(),
        })
    }

    /// Writes `text` followed by its CRC32C, so that a torn write is not read as a
    /// position (it could point into the middle of a record).
    fn write(&mut self, text: &str) -> io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::FileExt as _;
        let text = text.trim_end();
        self.buf.clear();
        self.buf.extend_from_slice(text.as_bytes());
        write!(self.buf, " {:08x}", crc32c::crc32c(text.as_bytes()))?;
        if self.buf.len() < self.len {
            self.buf.resize(self.len, b' ');
        }
        self.file.write_all_at(&self.buf, 0)?;
        self.len = self.buf.len();
        Ok(())
    }
}

/// The text of an ack file without its trailing CRC32C, if the checksum matches.
fn checked(content: &str) -> Option<&str> {
    let content = content.trim_end();
    let (text, crc) = content.rsplit_once(' ')?;
    let crc = u32::from_str_radix(crc, 16).ok()?;
    (crc32c::crc32c(text.as_bytes()) == crc).then_some(text)
}
