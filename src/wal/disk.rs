//! What opening the WAL reads from disk: the segments (scanned, a torn tail cut) and the
//! readers' committed positions.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::Path;

use super::position;
use super::segment;
use super::writer::{Index, SegInfo};
use super::{Damage, OpenError, Position, RepairReport};

/// Scans every segment: counts samples, cuts a torn tail of the last, reports damage.
pub(crate) fn scan_all(dir: &Path, seqs: &[u64]) -> Result<(Index, RepairReport), OpenError> {
    let mut index = Index::default();
    let mut report = RepairReport {
        segments: seqs.len(),
        ..RepairReport::default()
    };
    for (i, &seq) in seqs.iter().enumerate() {
        let path = segment::path(dir, seq);
        let scan = segment::scan(&path).map_err(|e| OpenError::io(&path, e))?;
        let mut bytes = scan.file_len;
        if scan.damage.is_some() {
            let damage = Damage {
                at: Position {
                    segment: seq,
                    offset: scan.good_end,
                },
                bytes_lost: scan.file_len.saturating_sub(scan.good_end),
            };
            if i + 1 == seqs.len() {
                // Where a crash leaves damage: cut it so the segment ends cleanly.
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(scan.good_end).and_then(|()| f.sync_all()))
                    .map_err(|e| OpenError::io(&path, e))?;
                bytes = scan.good_end;
                tracing::warn!(
                    segment = seq,
                    offset = scan.good_end,
                    bytes_cut = damage.bytes_lost,
                    "wal segment ended in a torn record; cut at the last good record"
                );
                report.torn_tail = Some(damage);
            } else {
                tracing::warn!(
                    segment = seq,
                    offset = scan.good_end,
                    bytes_lost = damage.bytes_lost,
                    "wal segment damaged; readers skip from there to the next segment"
                );
                report.corruptions.push(damage);
            }
        }
        index.segs.insert(
            seq,
            SegInfo {
                bytes,
                samples: scan.samples,
                first_sample: report.samples,
            },
        );
        report.samples += scan.samples;
    }
    Ok((index, report))
}

/// Committed positions of every reader with a position file: endpoints not opened yet in
/// this process still hold back truncation (until [`Wal::remove_reader`]).
pub(crate) fn load_positions(dir: &Path) -> Result<HashMap<String, Position>, OpenError> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| OpenError::io(dir, e))? {
        let entry = entry.map_err(|e| OpenError::io(dir, e))?;
        let Ok(id) = entry.file_name().into_string() else {
            continue;
        };
        // A reader's side files: the temp file of a durable store, the in-place ack file.
        if position::is_side_file(&id) {
            continue;
        }
        out.insert(id, position::load_committed(&entry.path()));
    }
    Ok(out)
}

pub(crate) fn create_segment(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}
