//! Record framing and payload encoding. Pure: bytes in, bytes out, no I/O.
//!
//! Frame: `type: u8 | len: u32 LE | crc: u32 LE | payload[len]`, where `crc` is CRC32C over
//! the type byte, the length bytes and the payload, so a damaged header is caught too.
//!
//! Payloads:
//! - Series: repeated `varint ref | varint len | labels wire bytes`.
//! - Samples: `varint n | zigzag base_ts` then n times
//!   `zigzag (ref - prev_ref) | zigzag (ts - base_ts) | f64 bits LE (8 bytes)`.
//!   Within one scrape refs are mostly ascending and timestamps equal, so a sample costs
//!   about 10-11 bytes.

use crate::labels::LabelsRef;
use crate::model::wire::put_varint;
use crate::series::Sample;

/// Bytes before the payload.
pub(crate) const HEADER_LEN: usize = 9;
/// Largest payload a writer produces; a bigger length field is damage.
pub(crate) const MAX_PAYLOAD: usize = 16 << 20;
/// Samples per Samples record: bounds record size (~11 bytes per sample).
pub(crate) const MAX_SAMPLES_PER_RECORD: usize = 4096;
/// A Series record is closed once its payload passes this size.
pub(crate) const SERIES_RECORD_TARGET: usize = 1 << 20;

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordType {
    /// SeriesRef → labels definitions.
    Series = 1,
    /// A batch of samples.
    Samples = 2,
}

impl RecordType {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Series),
            2 => Some(Self::Samples),
            _ => None,
        }
    }
}

/// Starts a record in `buf`: writes a placeholder header, returns where it starts.
pub(crate) fn begin(buf: &mut Vec<u8>, ty: RecordType) -> usize {
    let start = buf.len();
    buf.push(ty as u8);
    buf.extend_from_slice(&[0; HEADER_LEN - 1]);
    start
}

/// Finishes the record begun at `start`: fills in length and checksum. An empty payload
/// removes the record instead (nothing to say).
pub(crate) fn finish(buf: &mut Vec<u8>, start: usize) {
    let len = buf.len().saturating_sub(start + HEADER_LEN);
    if len == 0 {
        buf.truncate(start);
        return;
    }
    let len_bytes = (len as u32).to_le_bytes();
    let Some(frame) = buf.get_mut(start..) else {
        return;
    };
    let Some((header, payload)) = frame.split_at_mut_checked(HEADER_LEN) else {
        return;
    };
    let [t, l0, l1, l2, l3, c0, c1, c2, c3] = header else {
        return;
    };
    [*l0, *l1, *l2, *l3] = len_bytes;
    let crc = crc32c::crc32c(&[*t, *l0, *l1, *l2, *l3]);
    [*c0, *c1, *c2, *c3] = crc32c::crc32c_append(crc, payload).to_le_bytes();
}

/// Appends one series definition to a Series record payload.
pub(crate) fn put_series(buf: &mut Vec<u8>, id: u64, labels: LabelsRef<'_>) {
    put_varint(buf, id);
    put_varint(buf, labels.wire_len() as u64);
    labels.write_wire(buf);
}

/// Appends a Samples payload for `samples` (at most [`MAX_SAMPLES_PER_RECORD`]).
pub(crate) fn put_samples(buf: &mut Vec<u8>, samples: &[Sample]) {
    let base = samples.first().map_or(0, |s| s.timestamp);
    put_varint(buf, samples.len() as u64);
    put_varint(buf, zigzag(base));
    let mut prev = 0u64;
    for s in samples {
        put_varint(buf, zigzag(s.series.id().0.wrapping_sub(prev) as i64));
        put_varint(buf, zigzag(s.timestamp.wrapping_sub(base)));
        buf.extend_from_slice(&s.value.to_bits().to_le_bytes());
        prev = s.series.id().0;
    }
}

/// Why the bytes at some offset are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// The header or payload runs past the available bytes (a torn write, or not yet
    /// written).
    Short,
    /// Unknown type, impossible length or checksum mismatch.
    Corrupt,
}

/// A framed record found at the front of a buffer.
#[derive(Debug)]
#[allow(dead_code)] // `payload` is read by tests; `Chunks` re-slices to release its borrow.
pub(crate) struct Frame<'a> {
    pub ty: RecordType,
    pub payload: &'a [u8],
    /// Header plus payload bytes.
    pub len: usize,
}

/// Parses and verifies the record at the front of `buf`.
pub(crate) fn parse(buf: &[u8]) -> Result<Frame<'_>, Bad> {
    let header: &[u8; HEADER_LEN] = buf
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Bad::Short)?;
    let [t, l0, l1, l2, l3, c0, c1, c2, c3] = *header;
    let ty = RecordType::from_byte(t).ok_or(Bad::Corrupt)?;
    let len = u32::from_le_bytes([l0, l1, l2, l3]) as usize;
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    if len == 0 || len > MAX_PAYLOAD {
        return Err(Bad::Corrupt);
    }
    let payload = buf.get(HEADER_LEN..HEADER_LEN + len).ok_or(Bad::Short)?;
    let actual = crc32c::crc32c_append(crc32c::crc32c(&[t, l0, l1, l2, l3]), payload);
    if actual != crc {
        return Err(Bad::Corrupt);
    }
    Ok(Frame {
        ty,
        payload,
        len: HEADER_LEN + len,
    })
}

/// Iterates the `(ref, labels wire bytes)` of a Series payload; `Err` on malformed bytes.
pub(crate) struct SeriesIter<'a> {
    rest: &'a [u8],
}

impl<'a> SeriesIter<'a> {
    pub fn new(payload: &'a [u8]) -> Self {
        Self { rest: payload }
    }
}

impl<'a> Iterator for SeriesIter<'a> {
    type Item = Result<(u64, &'a [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let item = (|| {
            let id = take_varint(&mut self.rest)?;
            let len = usize::try_from(take_varint(&mut self.rest)?).map_err(|_| Malformed)?;
            let wire = self.rest.get(..len).ok_or(Malformed)?;
            self.rest = self.rest.get(len..).ok_or(Malformed)?;
            Ok((id, wire))
        })();
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

/// One decoded sample: (ref, timestamp ms, value bits).
pub(crate) type RawSample = (u64, i64, u64);

/// Iterates a Samples payload.
pub(crate) struct SamplesIter<'a> {
    rest: &'a [u8],
    left: u64,
    base: i64,
    prev: u64,
}

impl<'a> SamplesIter<'a> {
    pub fn new(payload: &'a [u8]) -> Result<Self, Malformed> {
        let mut rest = payload;
        let left = take_varint(&mut rest)?;
        let base = unzigzag(take_varint(&mut rest)?);
        Ok(Self {
            rest,
            left,
            base,
            prev: 0,
        })
    }

    /// Samples the record declares (for counting without decoding).
    pub fn count(payload: &'a [u8]) -> Result<u64, Malformed> {
        Ok(Self::new(payload)?.left)
    }
}

impl Iterator for SamplesIter<'_> {
    type Item = Result<RawSample, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = (|| {
            let id = self
                .prev
                .wrapping_add(unzigzag(take_varint(&mut self.rest)?) as u64);
            let ts = self
                .base
                .wrapping_add(unzigzag(take_varint(&mut self.rest)?));
            let (bits, rest) = self.rest.split_first_chunk::<8>().ok_or(Malformed)?;
            self.rest = rest;
            self.prev = id;
            Ok((id, ts, u64::from_le_bytes(*bits)))
        })();
        if item.is_err() {
            self.left = 0;
        }
        Some(item)
    }
}

/// A payload that passed its checksum but does not decode (a writer bug or a CRC
/// collision); treated like corruption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Malformed;

fn take_varint(buf: &mut &[u8]) -> Result<u64, Malformed> {
    let mut v: u64 = 0;
    for (i, b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *buf = buf.get(i + 1..).unwrap_or_default();
            return Ok(v);
        }
    }
    Err(Malformed)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::series::{STALE_NAN_BITS, Series};

    #[test]
    fn zigzag_round_trips() {
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn frames_round_trip_and_detect_damage() {
        let a = Series::new(Labels::from_pairs([("__name__", "a")]));
        let b = Series::new(Labels::from_pairs([("__name__", "b")]));
        let samples: Vec<Sample> = [(&b, 1000, 1.5), (&a, 1000, -2.0), (&b, 999, 0.0)]
            .into_iter()
            .map(|(s, t, v)| Sample {
                series: s.clone(),
                timestamp: t,
                value: v,
            })
            .chain(std::iter::once(Sample {
                series: a.clone(),
                timestamp: -5,
                value: f64::from_bits(STALE_NAN_BITS),
            }))
            .collect();
        let mut buf = Vec::new();
        let s = begin(&mut buf, RecordType::Series);
        put_series(&mut buf, a.id().0, a.labels());
        finish(&mut buf, s);
        let s = begin(&mut buf, RecordType::Samples);
        put_samples(&mut buf, &samples);
        finish(&mut buf, s);
        let empty = begin(&mut buf, RecordType::Series);
        finish(&mut buf, empty);
        assert_eq!(buf.len(), empty, "an empty record is not written");

        let f = parse(&buf).unwrap();
        assert_eq!(f.ty, RecordType::Series);
        let defs: Vec<_> = SeriesIter::new(f.payload).map(Result::unwrap).collect();
        assert_eq!(defs, vec![(a.id().0, a.labels().to_labels().wire_bytes())]);
        let g = parse(&buf[f.len..]).unwrap();
        assert_eq!(g.ty, RecordType::Samples);
        assert_eq!(f.len + g.len, buf.len());
        let got: Vec<_> = SamplesIter::new(g.payload)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let want: Vec<_> = samples
            .iter()
            .map(|s| (s.series.id().0, s.timestamp, s.value.to_bits()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(SamplesIter::count(g.payload), Ok(4));

        assert_eq!(parse(&buf[..f.len - 1]).unwrap_err(), Bad::Short);
        assert_eq!(parse(&buf[..4]).unwrap_err(), Bad::Short);
        let mut flipped = buf.clone();
        flipped[f.len + 12] ^= 0x40;
        assert_eq!(parse(&flipped[f.len..]).unwrap_err(), Bad::Corrupt);
        let mut bad_type = buf.clone();
        bad_type[0] = 0;
        assert_eq!(parse(&bad_type).unwrap_err(), Bad::Corrupt);
    }

    #[test]
    fn malformed_payloads_end_iteration() {
        assert!(SamplesIter::new(&[]).is_err());
        let mut it = SamplesIter::new(&[2, 0, 0, 0, 1]).unwrap();
        assert_eq!(it.next(), Some(Err(Malformed)));
        assert_eq!(it.next(), None);
        let mut it = SeriesIter::new(&[1, 5, b'x']);
        assert_eq!(it.next(), Some(Err(Malformed)));
        assert_eq!(it.next(), None);
    }
}
