//! The delivery ledger of one endpoint: which of the samples read from the WAL have been
//! delivered, and the durable progress that follows from it. Acknowledgements in,
//! [`Delivered`] out; no I/O and no clock (the WAL feed drives it and stores what it
//! returns).
//!
//! The rules it keeps:
//! - Shard `i` finishes the samples it was given in the order it was given them, so "shard
//!   `i` finished `d` samples" names exactly which: the first `d` routed to it.
//! - The committed position moves to the end of a read batch once every shard has finished
//!   every sample of it and of the batches before. Past it, each shard's progress is a count
//!   (one send may end inside a record, shards go at their own pace).
//! - After a restart with the same shard count and hash, the first `extra[i]` samples
//!   routed to shard `i` were delivered by the earlier run: they are skipped and count as
//!   finished. Until they have all been read, a commit carries the rest forward, so a
//!   second crash still skips them.
//! - A reshard happens only when everything read is finished (the old shard set drained,
//!   nothing read and not yet given to a shard): the counts then start over.

use std::collections::VecDeque;

use crate::wal::{Delivered, Position};

/// A read batch past the committed position.
#[derive(Clone, Debug)]
struct Batch {
    /// Position after its last record.
    end: Position,
    /// Per shard, samples routed since the ledger started, up to and including this batch.
    read: Vec<u64>,
}

/// What an earlier run delivered past its committed position that is not read yet.
#[derive(Clone, Debug)]
struct Prior {
    remaining: Vec<u64>,
    until: Position,
}

/// Whether a sample read from the WAL must be sent.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Give it to its shard.
    Send,
    /// An earlier run delivered it: drop it (it counts as finished).
    Delivered,
}

/// A reshard was asked for while samples were still unfinished.
#[derive(Debug, thiserror::Error)]
#[error("{unfinished} read batches are not finished; a reshard must wait for them")]
pub(crate) struct NotSettled {
    unfinished: usize,
}

/// The delivery bookkeeping of one endpoint (see the module doc).
#[derive(Debug)]
pub(crate) struct Ledger {
    /// What the counts refer to: the shard count of the running set.
    shards: usize,
    /// The progress handed out last (or loaded at start).
    stored: Delivered,
    /// Per shard, samples routed since the ledger started (skipped ones included).
    read: Vec<u64>,
    /// Per shard, `read` at the committed position.
    base: Vec<u64>,
    /// Per shard, samples skipped as delivered by an earlier run.
    skipped: Vec<u64>,
    /// Per shard, samples the running shards finished (last acknowledgement, plus
    /// `offset`).
    done: Vec<u64>,
    /// Per shard, what sets replaced without a reshard finished (see [`Ledger::reshard`]).
    offset: Vec<u64>,
    prior: Option<Prior>,
    batches: VecDeque<Batch>,
}

impl Ledger {
    /// A ledger for `shards` shards resuming from `loaded`. The earlier run's counts apply
    /// only with its shard count ([`Ledger::shards_for`]); with another they are dropped
    /// (those samples are sent again: duplicates, never a gap).
    pub fn new(loaded: Delivered, shards: usize) -> Ledger {
        let shards = shards.max(1);
        let prior = (loaded.has_extra() && loaded.extra.len() == shards).then(|| Prior {
            remaining: loaded.extra.clone(),
            until: loaded.until,
        });
        let stored = if prior.is_some() {
            loaded
        } else {
            Delivered::at(loaded.committed)
        };
        Ledger {
            shards,
            stored,
            read: vec![0; shards],
            base: vec![0; shards],
            skipped: vec![0; shards],
            done: vec![0; shards],
            offset: vec![0; shards],
            prior,
            batches: VecDeque::new(),
        }
    }

    /// The shard count `loaded`'s counts need, if it has any.
    pub fn shards_for(loaded: &Delivered) -> Option<usize> {
        loaded.has_extra().then_some(loaded.extra.len())
    }

    /// The shard count the ledger counts for.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The progress handed out last.
    pub fn stored(&self) -> &Delivered {
        &self.stored
    }

    /// True while samples delivered by an earlier run are still to be read and skipped
    /// (no reshard meanwhile: the counts are per shard).
    pub fn skipping(&self) -> bool {
        self.prior.is_some()
    }

    /// Samples an earlier run delivered that are still to be skipped.
    pub fn prior_remaining(&self) -> u64 {
        self.prior.as_ref().map_or(0, |p| p.remaining.iter().sum())
    }

    /// Starts a read batch at `start`. Past the earlier run's furthest delivered record
    /// nothing is skipped any more; returns the samples that were expected there and not
    /// found (the WAL changed between the runs: the disk bound deleted a segment).
    pub fn begin_batch(&mut self, start: Position) -> u64 {
        match &self.prior {
            Some(p) if start >= p.until => {
                let missing = self.prior_remaining();
                self.prior = None;
                missing
            }
            _ => 0,
        }
    }

    /// Routes one sample read for `shard`.
    pub fn route(&mut self, shard: usize) -> Route {
        let Some(read) = self.read.get_mut(shard) else {
            return Route::Send;
        };
        *read += 1;
        if let Some(left) = self
            .prior
            .as_mut()
            .and_then(|p| p.remaining.get_mut(shard))
            .filter(|n| **n > 0)
        {
            *left -= 1;
            if let Some(s) = self.skipped.get_mut(shard) {
                *s += 1;
            }
            return Route::Delivered;
        }
        Route::Send
    }

    /// Ends the read batch at `end` (after its samples were routed).
    pub fn end_batch(&mut self, end: Position) {
        self.batches.push_back(Batch {
            end,
            read: self.read.clone(),
        });
        if self
            .prior
            .as_ref()
            .is_some_and(|p| p.remaining.iter().all(|&n| n == 0))
        {
            self.prior = None;
        }
    }

    /// Takes the shards' finished counts (`done[i]` for shard `i`, since the set started);
    /// returns the new progress to store when it changed.
    pub fn acknowledge(&mut self, done: &[u64]) -> Option<&Delivered> {
        for ((d, n), o) in self.done.iter_mut().zip(done).zip(&self.offset) {
            *d = (*d).max(n + o);
        }
        let delivered: Vec<u64> = self
            .skipped
            .iter()
            .zip(&self.done)
            .map(|(s, d)| s + d)
            .collect();
        let mut committed = self.stored.committed;
        while let Some(b) = self.batches.front() {
            if b.read.iter().zip(&delivered).any(|(r, d)| r > d) {
                break;
            }
            committed = b.end;
            self.base.clone_from(&b.read);
            self.batches.pop_front();
        }
        let next = self.progress(committed, &delivered);
        if next == self.stored {
            return None;
        }
        self.stored = next;
        Some(&self.stored)
    }

    /// The progress at `committed` given per-shard `delivered` counts.
    fn progress(&self, committed: Position, delivered: &[u64]) -> Delivered {
        let mut until = committed;
        let mut extra = Vec::with_capacity(self.shards);
        for (i, (&d, &base)) in delivered.iter().zip(&self.base).enumerate() {
            let past = d.saturating_sub(base);
            if past > 0 {
                // The batch holding this shard's last delivered sample: the first whose
                // count reaches it (counts only grow from batch to batch).
                let at = self
                    .batches
                    .partition_point(|b| b.read.get(i).is_some_and(|&r| r < d));
                if let Some(b) = self.batches.get(at) {
                    until = until.max(b.end);
                }
            }
            let left = self
                .prior
                .as_ref()
                .and_then(|p| p.remaining.get(i))
                .copied()
                .unwrap_or(0);
            extra.push(past + left);
        }
        if let Some(p) = self
            .prior
            .as_ref()
            .filter(|p| p.remaining.iter().any(|&n| n > 0))
        {
            until = until.max(p.until);
        }
        let d = Delivered {
            committed,
            extra,
            until,
        };
        if d.has_extra() {
            d
        } else {
            Delivered::at(committed)
        }
    }

    /// Starts counting for a new set of `shards` shards, after the old set finished every
    /// sample read (`done`, its final counts). Returns the progress to store. When samples
    /// are unfinished, the counts stay per the old shard count: the caller starts a set of
    /// [`Ledger::shards`] shards instead, whose counts continue the old set's.
    pub fn reshard(&mut self, done: &[u64], shards: usize) -> Result<&Delivered, NotSettled> {
        let _ = self.acknowledge(done);
        if !self.batches.is_empty() || self.prior.is_some() || self.stored.has_extra() {
            self.offset.clone_from(&self.done);
            return Err(NotSettled {
                unfinished: self.batches.len().max(1),
            });
        }
        let shards = shards.max(1);
        *self = Ledger::new(Delivered::at(self.stored.committed), shards);
        Ok(&self.stored)
    }
}

#[cfg(test)]
mod tests;
