//! Segment files: names, listing, and reading records from a file in bounded chunks.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::record::{self, Bad, HEADER_LEN, RecordType, SamplesIter};

/// Digits of a segment file name (zero-padded sequence number, sorts like the number).
const NAME_DIGITS: usize = 20;
/// Bytes read from a segment at a time; a larger record grows the buffer to fit it.
const CHUNK: usize = 1 << 20;

/// Path of segment `seq` in `dir`.
pub(crate) fn path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:0width$}", width = NAME_DIGITS))
}

/// Sequence numbers of the segment files in `dir`, ascending. Other files are ignored.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == NAME_DIGITS
            && name.bytes().all(|b| b.is_ascii_digit())
            && let Ok(seq) = name.parse()
        {
            out.push(seq);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// A record read by [`Chunks::next`], borrowed from the chunk buffer.
#[derive(Debug)]
pub(crate) enum Next<'a> {
    Record {
        ty: RecordType,
        payload: &'a [u8],
    },
    /// Every byte up to the limit was consumed.
    End,
    /// Damage at [`Chunks::offset`]; the offset does not move.
    Bad(Bad),
}

/// Reads the records of one file sequentially, holding at most one chunk (or one record,
/// if larger) in memory.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    base: u64,
    /// Consumed bytes of `buf`.
    pos: usize,
}

impl Chunks {
    /// Restarts at file offset `offset` (the next read seeks there).
    pub fn reset(&mut self, offset: u64) {
        self.buf.clear();
        self.base = offset;
        self.pos = 0;
    }

    /// File offset just after the last record returned.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The next record of `file` that ends at or before file offset `limit`.
    pub fn next<'a>(&'a mut self, file: &mut File, limit: u64) -> io::Result<Next<'a>> {
        let (ty, len) = loop {
            let avail = self.buf.get(self.pos..).unwrap_or_default();
            match record::parse(avail) {
                Ok(f) => break (f.ty, f.len),
                Err(Bad::Corrupt) => return Ok(Next::Bad(Bad::Corrupt)),
                Err(Bad::Short) => {
                    let nothing_left = avail.is_empty();
                    let end = self.base + self.buf.len() as u64;
                    if end >= limit || !self.fill(file, limit)? {
                        return Ok(if nothing_left {
                            Next::End
                        } else {
                            Next::Bad(Bad::Short)
                        });
                    }
                }
            }
        };
        let start = self.pos;
        self.pos += len;
        Ok(Next::Record {
            ty,
            payload: self
                .buf
                .get(start + HEADER_LEN..start + len)
                .unwrap_or_default(),
        })
    }

    /// Drops consumed bytes and reads more, up to `limit`; false at end of file.
    fn fill(&mut self, file: &mut File, limit: u64) -> io::Result<bool> {
        self.buf.drain(..self.pos);
        self.base += self.pos as u64;
        self.pos = 0;
        // A record longer than a chunk: read all of it at once.
        let declared = self
            .buf
            .get(1..5)
            .and_then(|l| <[u8; 4]>::try_from(l).ok())
            .map_or(0, |l| u32::from_le_bytes(l) as usize)
            .min(record::MAX_PAYLOAD);
        let want = CHUNK.max(HEADER_LEN + declared);
        let end = self.base + self.buf.len() as u64;
        let want = want.min(usize::try_from(limit.saturating_sub(end)).unwrap_or(usize::MAX));
        file.seek(SeekFrom::Start(end))?;
        let n = file.take(want as u64).read_to_end(&mut self.buf)?;
        Ok(n > 0)
    }
}

/// What a full read of one segment found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Offset after the last good record.
    pub good_end: u64,
    /// File length.
    pub file_len: u64,
    /// Samples in the good records.
    pub samples: u64,
    /// Damage found at `good_end`, if any.
    pub damage: Option<Bad>,
}

/// Reads every record of segment `path`, verifying checksums and counting samples; stops
/// at the first damaged record.
pub(crate) fn scan(path: &Path) -> io::Result<Scan> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut chunks = Chunks::default();
    let mut samples = 0u64;
    let damage = loop {
        match chunks.next(&mut file, file_len)? {
            Next::Record {
                ty: RecordType::Samples,
                payload,
            } => match SamplesIter::count(payload) {
                Ok(n) => samples += n,
                Err(_) => break Some(Bad::Corrupt),
            },
            Next::Record { .. } => {}
            Next::End => break None,
            Next::Bad(b) => break Some(b),
        }
    };
    Ok(Scan {
        good_end: chunks.offset(),
        file_len,
        samples,
        damage,
    })
}
