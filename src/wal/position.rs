//! A reader's durable progress ([`Delivered`]) and the two files that hold it:
//! `readers/<id>` (replaced atomically, fsynced: what a power loss falls back to) and
//! `readers/<id>.ack` (rewritten in place at every acknowledgement, checksummed: what a
//! killed process resumes from). Opening the WAL (`disk.rs`, for truncation) and opening a
//! reader both load positions through [`load`].

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use super::Position;
use super::writer::sync_dir;

/// Position file format marker: `v1 SEG OFF`.
const V1: &str = "v1";
/// Format of shoal 0.1 with per-shard end positions; read as its committed position only.
const V2_LEGACY: &str = "v2";
/// Format with per-shard delivered counts: `v3 SEG OFF UNTIL_SEG UNTIL_OFF N C0 … Cn-1`.
const V3: &str = "v3";
/// Suffix of the acknowledgement file.
pub(crate) const ACK_SUFFIX: &str = ".ack";
/// Suffix of the temporary file of a durable store.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// Bound on the shard count read from a position file (a damaged file is not trusted).
const MAX_SHARDS: usize = 4096;

/// How far an endpoint's sender got: everything before `committed`, and past it, per shard
/// `i` of the sender that stored it, the first `extra[i]` samples that shard was given.
///
/// Samples past `committed` are delivered out of WAL order (shards send independently, and
/// one send may end inside a record), so a position alone cannot say what was sent. Shard
/// `i` delivers its samples in the order it was given them, so a count per shard can: after
/// a restart the sender reads from `committed` with the same shard count and hash, and
/// skips the first `extra[i]` samples of each shard `i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Every sample in records before this position was delivered (a record end).
    pub committed: Position,
    /// Per shard, samples delivered past `committed`; empty when none.
    pub extra: Vec<u64>,
    /// End of the furthest record holding one of those samples (`committed` when none): a
    /// restart skips nothing past it, even if the WAL between changed (the disk bound
    /// deleted a segment).
    pub until: Position,
}

impl Delivered {
    /// Everything before `pos`, nothing past it.
    pub fn at(pos: Position) -> Delivered {
        Delivered {
            committed: pos,
            extra: Vec::new(),
            until: pos,
        }
    }

    /// True if samples past `committed` were delivered.
    pub fn has_extra(&self) -> bool {
        self.extra.iter().any(|&n| n > 0)
    }

    /// The same progress with empty extras dropped (the canonical form stored).
    fn normalized(&self) -> Delivered {
        if self.has_extra() {
            Delivered {
                until: self.until.max(self.committed),
                ..self.clone()
            }
        } else {
            Delivered::at(self.committed)
        }
    }
}

/// `v1 SEG OFF` when nothing was delivered past `committed`, else the `v3` form.
impl std::fmt::Display for Delivered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Position { segment, offset } = self.committed;
        if !self.has_extra() {
            return writeln!(f, "{V1} {segment} {offset}");
        }
        let u = self.until;
        write!(
            f,
            "{V3} {segment} {offset} {} {} {}",
            u.segment,
            u.offset,
            self.extra.len()
        )?;
        for n in &self.extra {
            write!(f, " {n}")?;
        }
        writeln!(f)
    }
}

/// What a position file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A position of this version.
    Current(Delivered),
    /// A `v2` file (per-shard end positions): its committed position only, so the samples
    /// a shard delivered past it are sent again once (duplicates, never a gap).
    Legacy(Delivered),
}

impl Parsed {
    fn delivered(self) -> Delivered {
        match self {
            Parsed::Current(d) | Parsed::Legacy(d) => d,
        }
    }
}

/// Parses a position file's text (without an ack file's checksum).
pub(crate) fn parse(text: &str) -> Option<Parsed> {
    let mut parts = text.split_ascii_whitespace();
    let version = parts.next()?;
    let nums = parts
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<Vec<u64>>>()?;
    let pos = |segment, offset| Position { segment, offset };
    let shard_count = |n: u64| {
        usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_SHARDS).contains(n))
    };
    match (version, nums.as_slice()) {
        (V1, &[s, o]) => Some(Parsed::Current(Delivered::at(pos(s, o)))),
        (V2_LEGACY, &[s, o, n, ref ends @ ..]) => {
            let n = shard_count(n)?;
            (ends.len() == 2 * n).then(|| Parsed::Legacy(Delivered::at(pos(s, o))))
        }
        (V3, &[s, o, us, uo, n, ref extra @ ..]) => {
            let n = shard_count(n)?;
            let (committed, until) = (pos(s, o), pos(us, uo));
            if extra.len() != n || until < committed {
                return None;
            }
            Some(Parsed::Current(
                Delivered {
                    committed,
                    extra: extra.to_vec(),
                    until,
                }
                .normalized(),
            ))
        }
        _ => None,
    }
}

/// What [`load`] found for a reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// No position file: the reader never committed.
    Missing,
    /// The newer of the two files.
    Found(Parsed),
    /// Neither file is readable; the durable file's content, for the log.
    Damaged(String),
}

/// Loads a reader's position: the ack file when it is valid and not behind the durable file
/// (it is newer unless a power loss tore it or its write failed), else the durable file.
pub(crate) fn load(pos_path: &Path) -> io::Result<Stored> {
    let text = match std::fs::read_to_string(pos_path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Stored::Missing),
        Err(e) => return Err(e),
    };
    let ack = std::fs::read_to_string(ack_path(pos_path))
        .ok()
        .and_then(|t| parse(checked(&t)?));
    let durable = parse(&text);
    let committed = |p: &Parsed| match p {
        Parsed::Current(d) | Parsed::Legacy(d) => d.committed,
    };
    Ok(match (ack, durable) {
        (Some(a), Some(d)) if committed(&a) >= committed(&d) => Stored::Found(a),
        (Some(a), None) => Stored::Found(a),
        (_, Some(d)) => Stored::Found(d),
        (None, None) => Stored::Damaged(text),
    })
}

/// The committed position stored for the reader at `pos_path`, for truncation at open: a
/// damaged file holds everything back (its reader restarts from the oldest segment).
pub(crate) fn load_committed(pos_path: &Path) -> Position {
    match load(pos_path) {
        Ok(Stored::Found(p)) => p.delivered().committed,
        _ => Position::default(),
    }
}

/// `readers/<id>.ack` next to `readers/<id>`.
pub(crate) fn ack_path(pos_path: &Path) -> PathBuf {
    with_suffix(pos_path, ACK_SUFFIX)
}

/// True for the side files of a reader (not a reader of its own).
pub(crate) fn is_side_file(name: &str) -> bool {
    name.ends_with(TMP_SUFFIX) || name.ends_with(ACK_SUFFIX)
}

/// Deletes a reader's position files.
pub(crate) fn remove(pos_path: &Path) -> io::Result<()> {
    for p in [ack_path(pos_path), pos_path.to_path_buf()] {
        match std::fs::remove_file(p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// `path` with `suffix` appended (ids may hold dots: no extension replacing).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The writer of one reader's two position files.
pub(crate) struct PositionFiles {
    path: PathBuf,
    /// Opened at the first store.
    ack: Option<AckFile>,
}

impl PositionFiles {
    /// The files of the reader whose durable position file is `path`.
    pub fn new(path: PathBuf) -> PositionFiles {
        PositionFiles { path, ack: None }
    }

    /// Stores `d` in the ack file (in place, no fsync: survives a killed process, the page
    /// cache does) and, when `durable`, in the durable file (temp file, fsync, rename,
    /// directory fsync). Returns the file that failed.
    pub fn store(&mut self, d: &Delivered, durable: bool) -> Result<(), (PathBuf, io::Error)> {
        let text = d.normalized().to_string();
        let ack_path = ack_path(&self.path);
        if self.ack.is_none() {
            self.ack = Some(AckFile::open(&ack_path).map_err(|e| (ack_path.clone(), e))?);
        }
        if let Some(ack) = self.ack.as_mut() {
            ack.write(&text).map_err(|e| (ack_path, e))?;
        }
        if durable {
            let tmp = with_suffix(&self.path, TMP_SUFFIX);
            off_worker(|| {
                File::create(&tmp)
                    .and_then(|mut f| {
                        f.write_all(text.as_bytes())?;
                        f.sync_data()
                    })
                    .map_err(|e| (tmp.clone(), e))?;
                std::fs::rename(&tmp, &self.path).map_err(|e| (self.path.clone(), e))?;
                if let Some(dir) = self.path.parent() {
                    sync_dir(dir).map_err(|e| (dir.to_path_buf(), e))?;
                }
                Ok(())
            })?;
        }
        Ok(())
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

/// A small file rewritten in place at offset 0; shorter contents are padded with spaces
/// (the parser splits on whitespace), so it never needs truncating: no new inode per
/// acknowledgement (a create and rename per ack cost a third of the WAL's CPU).
struct AckFile {
    file: File,
    len: usize,
    buf: Vec<u8>,
}

impl AckFile {
    fn open(path: &Path) -> io::Result<AckFile> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segment: u64, offset: u64) -> Position {
        Position { segment, offset }
    }

    #[test]
    fn formats_round_trip() {
        let plain = Delivered::at(p(3, 4096));
        assert_eq!(plain.to_string(), "v1 3 4096\n");
        let counted = Delivered {
            committed: p(3, 4096),
            extra: vec![30, 0],
            until: p(4, 12),
        };
        assert_eq!(counted.to_string(), "v3 3 4096 4 12 2 30 0\n");
        for d in [plain, counted] {
            assert_eq!(parse(&d.to_string()), Some(Parsed::Current(d)));
        }
        // All-zero counts are the plain form.
        let zero = Delivered {
            committed: p(3, 4096),
            extra: vec![0, 0],
            until: p(4, 12),
        };
        assert_eq!(zero.to_string(), "v1 3 4096\n");
        assert_eq!(
            parse("v3 3 4096 4 12 2 0 0"),
            Some(Parsed::Current(Delivered::at(p(3, 4096))))
        );
    }

    #[test]
    fn the_legacy_format_keeps_its_committed_position() {
        assert_eq!(
            parse("v2 3 4096 2 3 9000 4 12"),
            Some(Parsed::Legacy(Delivered::at(p(3, 4096))))
        );
    }

    #[test]
    fn damage_is_rejected() {
        for bad in [
            "",
            "v1 3",
            "v1 3 4096 7",
            "v3 3 4096",
            "v3 3 4096 4 12 2 30",
            "v3 3 4096 4 12 0",
            "v3 3 4096 2 12 1 5",
            "v3 3 4096 4 12 99999 1",
            "v2 3 4096",
            "v2 3 4096 0",
            "v2 3 4096 2 3 9000",
            "v2 3 4096 1 3 9000 4",
            "v2 3 4096 99999 1 1",
            "v1 -3 4096",
            "v9 3 4096",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_ack_file_wins_unless_torn_or_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rw");
        assert_eq!(load(&path).unwrap(), Stored::Missing);
        let mut files = PositionFiles::new(path.clone());
        let old = Delivered::at(p(1, 10));
        let new = Delivered {
            committed: p(1, 10),
            extra: vec![7],
            until: p(1, 50),
        };
        files.store(&old, true).unwrap();
        files.store(&new, false).unwrap();
        assert_eq!(load(&path).unwrap(), Stored::Found(Parsed::Current(new)));
        // Torn ack: the durable file.
        let ack = ack_path(&path);
        let kept = std::fs::read(&ack).unwrap();
        std::fs::write(&ack, &kept[..kept.len() / 2]).unwrap();
        assert_eq!(
            load(&path).unwrap(),
            Stored::Found(Parsed::Current(old.clone()))
        );
        // An ack behind the durable file (its write failed): the durable file.
        let ahead = Delivered::at(p(2, 0));
        std::fs::write(&path, ahead.to_string()).unwrap();
        std::fs::write(&ack, &kept).unwrap();
        assert_eq!(load(&path).unwrap(), Stored::Found(Parsed::Current(ahead)));
        // Both damaged.
        std::fs::write(&path, "garbage").unwrap();
        std::fs::write(&ack, "garbage").unwrap();
        assert_eq!(load(&path).unwrap(), Stored::Damaged("garbage".into()));
        assert_eq!(load_committed(&path), Position::default());
    }

    #[test]
    fn a_shorter_ack_overwrites_a_longer_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rw");
        let mut files = PositionFiles::new(path.clone());
        let long = Delivered {
            committed: p(1, 10),
            extra: vec![700_000, 800_000, 900_000],
            until: p(1, 50),
        };
        files.store(&long, true).unwrap();
        files.store(&Delivered::at(p(1, 60)), false).unwrap();
        assert_eq!(
            load(&path).unwrap(),
            Stored::Found(Parsed::Current(Delivered::at(p(1, 60))))
        );
        remove(&path).unwrap();
        assert_eq!(load(&path).unwrap(), Stored::Missing);
        assert!(is_side_file("rw.ack") && is_side_file("rw.tmp") && !is_side_file("rw"));
    }
}
