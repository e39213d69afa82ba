//! A reader: one per remote-write endpoint, with a durable position ([`Delivered`]).
//!
//! Reads segments from disk in chunks (memory: one chunk plus the series of the current
//! segment), yields samples with their series resolved, follows the writer (tail mode),
//! and skips what the disk bound deleted or damage made unreadable, counting it. The
//! position files are `position.rs`, the lag gauges `lag.rs`.

use std::fs::File;
use std::io;
use std::sync::Arc;

use tokio::sync::watch;

use super::lag::Lag;
use super::live::RefMap;
use super::metrics::WalDropReason;
use super::position::{self, Delivered, Parsed, PositionFiles, Stored};
use super::record::{RecordType, SamplesIter};
use super::resolve::{define, resolve};
use super::segment::{self, Chunks, Next};
use super::writer::{Head, Inner, reader_path};
use super::{Position, ReaderError};
use crate::series::{Sample, Series};

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
    seg: u64,
    file: Option<File>,
    /// Length of the current segment once it is sealed (it no longer changes).
    sealed_len: Option<u64>,
    chunks: Chunks,
    /// Series defined so far in the current segment, when it was written by an earlier
    /// process (this process's segments resolve through the live series map).
    series: RefMap<Series>,
    /// Samples consumed in the current segment (read or skipped).
    read_in_seg: u64,
    /// What was stored last (at open: what the previous process stored).
    delivered: Delivered,
    files: PositionFiles,
    /// Whether the last store was without fsync (see [`WalReader::sync`]).
    unsynced: bool,
    lag: Lag,
    head: watch::Receiver<Head>,
}

impl std::fmt::Debug for WalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalReader")
            .field("id", &self.id)
            .field("position", &self.position())
            .field("delivered", &self.delivered)
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
            && !position::is_side_file(id);
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
            files: PositionFiles::new(pos_path),
            seg: 0,
            file: None,
            sealed_len: None,
            chunks: Chunks::default(),
            series: RefMap::default(),
            read_in_seg: 0,
            delivered: Delivered::default(),
            unsynced: false,
            lag: Lag::new(id, inner.metrics.clone()),
            head,
            inner,
        };
        let mut loaded = r
            .load_position()?
            .unwrap_or_else(|| Delivered::at(r.start_position(start)));
        r.seek(loaded.committed)?;
        if r.position() != loaded.committed {
            // Not a record end: the counts past it no longer line up.
            loaded = Delivered::at(r.position());
        }
        // Kept through the store: what the last process delivered past the position.
        r.store(&loaded, true)?;
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
        self.delivered.committed
    }

    /// The progress stored last; at open, what the previous process stored (its samples
    /// past the committed position must not be sent again).
    pub fn delivered(&self) -> &Delivered {
        &self.delivered
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
            let samples = self.samples_before();
            self.lag.read(pos, samples);
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

    /// Records that everything up to `pos` was delivered, durably (temp file, fsync,
    /// rename): a restart resumes there, and truncation may go past it.
    pub fn commit(&mut self, pos: Position) -> Result<(), ReaderError> {
        self.store(&Delivered::at(pos), true)
    }

    /// Stores `d` at once in the ack file (survives a killed process) and, when `durable`,
    /// in the fsynced position file (survives a power loss).
    pub fn store(&mut self, d: &Delivered, durable: bool) -> Result<(), ReaderError> {
        self.files
            .store(d, durable)
            .map_err(|(path, source)| ReaderError::Io {
                id: self.id.clone(),
                path,
                source,
            })?;
        self.unsynced = !durable;
        self.delivered = d.clone();
        self.inner
            .lock_readers()
            .committed
            .insert(self.id.clone(), d.committed);
        let (position, samples) = (self.position(), self.samples_before());
        let head = *self.head.borrow();
        self.lag.committed(d.committed, position, samples, &head);
        Ok(())
    }

    /// Stores the last progress with fsync if the last store was without (a store without
    /// fsync survives a killed process, the page cache does, but not a power loss; cheap
    /// enough after every acknowledgement, so that a `kill -9` makes the next start resend
    /// only the sends in flight).
    pub fn sync(&mut self) -> Result<(), ReaderError> {
        if !self.unsynced {
            return Ok(());
        }
        let d = self.delivered.clone();
        self.store(&d, true)
    }

    /// Updates the lag gauges while nothing gets committed (an outage).
    pub fn refresh_lag(&self) {
        self.lag.refresh(&self.head.borrow());
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
                self.lag.saw(newest);
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
        let path = reader_path(&self.inner.opts.dir, &self.id);
        let stored = position::load(&path).map_err(|source| ReaderError::Io {
            id: self.id.clone(),
            path: path.clone(),
            source,
        })?;
        let head = self.head.borrow().segment;
        let oldest = || Delivered::at(self.start_position(StartAt::Oldest));
        let d = match stored {
            Stored::Missing => return Ok(None),
            Stored::Found(Parsed::Current(d)) => d,
            Stored::Found(Parsed::Legacy(d)) => {
                tracing::warn!(endpoint = %self.id, "wal reader position of an older shoal: samples its shards delivered past it may be sent once more");
                d
            }
            Stored::Damaged(text) => {
                // Re-sending from the oldest data beats losing it.
                tracing::warn!(endpoint = %self.id, path = %path.display(), content = %text.escape_debug(), "damaged wal reader position; starting from the oldest segment");
                return Ok(Some(oldest()));
            }
        };
        if d.committed.segment > head {
            tracing::warn!(endpoint = %self.id, segment = d.committed.segment, head, "wal reader position is past the end of the wal; starting from the oldest segment");
            return Ok(Some(oldest()));
        }
        Ok(Some(d))
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
