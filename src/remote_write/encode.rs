//! Hand-rolled remote write 1.0 encoding: `WriteRequest` bytes built straight from the
//! labels' cached wire form, then snappy (block format) compressed. Pure, no I/O.
//!
//! Every buffer is owned by the [`Encoder`] and reused, so encoding a batch allocates
//! nothing once the buffers have grown to the batch size.

use std::collections::BTreeMap;

use crate::labels::{LabelsRef, encode_label, split_label};
use crate::model::wire::{put_varint, varint_len};

/// `WriteRequest.timeseries` (field 1, length-delimited).
const TAG_TIMESERIES: u8 = 0x0a;
/// `TimeSeries.samples` (field 2, length-delimited).
const TAG_SAMPLES: u8 = 0x12;
/// `Sample.value` (field 1, 64-bit).
const TAG_VALUE: u8 = 0x09;
/// `Sample.timestamp` (field 2, varint).
const TAG_TIMESTAMP: u8 = 0x10;

/// External labels, sorted by name, pre-encoded to be merged into every series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExternalLabels {
    /// (name, the label encoded as `TimeSeries` field 1), ascending by name.
    labels: Vec<(String, Vec<u8>)>,
}

impl ExternalLabels {
    /// From the `global.external_labels` map (already sorted; empty values are ignored,
    /// as an empty label is an absent one).
    pub fn new(map: &BTreeMap<String, String>) -> Self {
        Self {
            labels: map
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| {
                    let mut wire = Vec::new();
                    encode_label(&mut wire, n, v);
                    (n.clone(), wire)
                })
                .collect(),
        }
    }

    /// True when there is nothing to merge.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Encodes batches of samples into snappy-compressed `WriteRequest` bodies.
pub struct Encoder {
    external: ExternalLabels,
    /// The uncompressed `WriteRequest` being built.
    request: Vec<u8>,
    /// Scratch for one series' labels merged with the external labels.
    labels: Vec<u8>,
    /// Scratch for a series' own and shared labels merged (only with external labels).
    merged: Vec<u8>,
    /// Compressed output of the last [`Encoder::finish`].
    compressed: Vec<u8>,
    snappy: snap::raw::Encoder,
    series: usize,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("external", &self.external)
            .field("series", &self.series)
            .field("request_len", &self.request.len())
            .finish()
    }
}

/// Errors of [`Encoder::finish`].
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// Snappy refused the input (larger than its 4 GiB block limit).
    #[error("snappy compression of a {len} byte request failed: {source}")]
    Compress {
        /// Uncompressed request size.
        len: usize,
        /// Snappy's error.
        source: snap::Error,
    },
}

impl Encoder {
    /// A new encoder that merges `external` into every series.
    pub fn new(external: ExternalLabels) -> Self {
        Self {
            external,
            request: Vec::new(),
            labels: Vec::new(),
            merged: Vec::new(),
            compressed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
            series: 0,
        }
    }

    /// Starts a new request, keeping the buffers.
    pub fn clear(&mut self) {
        self.request.clear();
        self.series = 0;
    }

    /// Number of `TimeSeries` in the current request.
    pub fn len(&self) -> usize {
        self.series
    }

    /// True when the current request has no series.
    pub fn is_empty(&self) -> bool {
        self.series == 0
    }

    /// The uncompressed request built so far (protobuf `WriteRequest`).
    pub fn request_bytes(&self) -> &[u8] {
        &self.request
    }

    /// Appends one `TimeSeries` holding `labels` (merged with the external labels) and a
    /// single sample.
    pub fn push<'l>(&mut self, labels: impl Into<LabelsRef<'l>>, timestamp: i64, value: f64) {
        let labels = labels.into();
        let with_external: Option<&[u8]> = if self.external.is_empty() {
            None
        } else {
            let run: &[u8] = match labels.as_single_run() {
                Some(run) => run,
                None => {
                    self.merged.clear();
                    labels.write_wire(&mut self.merged);
                    &self.merged
                }
            };
            merge_external(&mut self.labels, run, &self.external);
            Some(&self.labels)
        };
        let labels_len = with_external.map_or(labels.wire_len(), <[u8]>::len);
        // Zero fields are omitted, as prost and gogo-protobuf do, so the bytes equal theirs.
        let sample_len = if value != 0.0 { 9 } else { 0 }
            + if timestamp != 0 {
                1 + varint_len(timestamp as u64)
            } else {
                0
            };
        let series_len = labels_len + 1 + varint_len(sample_len as u64) + sample_len;
        self.request.push(TAG_TIMESERIES);
        put_varint(&mut self.request, series_len as u64);
        match with_external {
            Some(bytes) => self.request.extend_from_slice(bytes),
            // Straight into the request: the series' own and shared runs, merged.
            None => labels.write_wire(&mut self.request),
        }
        self.request.push(TAG_SAMPLES);
        put_varint(&mut self.request, sample_len as u64);
        if value != 0.0 {
            self.request.push(TAG_VALUE);
            self.request.extend_from_slice(&value.to_le_bytes());
        }
        if timestamp != 0 {
            self.request.push(TAG_TIMESTAMP);
            // int64 is encoded as the two's complement varint (10 bytes when negative).
            put_varint(&mut self.request, timestamp as u64);
        }
        self.series += 1;
    }

    /// Compresses the current request (snappy block format) and returns the body.
    pub fn finish(&mut self) -> Result<&[u8], EncodeError> {
        let max = snap::raw::max_compress_len(self.request.len());
        // `resize` reuses the allocation once it has grown; the bytes are overwritten.
        self.compressed.resize(max, 0);
        let n = self
            .snappy
            .compress(&self.request, &mut self.compressed)
            .map_err(|source| EncodeError::Compress {
                len: self.request.len(),
                source,
            })?;
        self.compressed.truncate(n);
        Ok(&self.compressed)
    }
}

/// Writes `labels` merged with `external` into `out` (cleared first): sorted by name, and
/// a series label wins over an external label of the same name. Works on the wire bytes:
/// series labels are copied as they are, only their names are looked at.
fn merge_external(out: &mut Vec<u8>, labels: &[u8], external: &ExternalLabels) {
    out.clear();
    let mut ext = external.labels.iter().peekable();
    let mut rest = labels;
    while !rest.is_empty() {
        let Some((len, name)) = split_label(rest) else {
            // Unreachable for a valid `Labels`; keep the bytes rather than lose them.
            out.extend_from_slice(rest);
            break;
        };
        while let Some((n, wire)) = ext.next_if(|(n, _)| n.as_bytes() <= name) {
            if n.as_bytes() != name {
                out.extend_from_slice(wire);
            }
        }
        let (label, tail) = rest.split_at(len.min(rest.len()));
        out.extend_from_slice(label);
        rest = tail;
    }
    for (_, wire) in ext {
        out.extend_from_slice(wire);
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::labels::Labels;
    use crate::remote_write::proto;

    type Pairs<'a> = &'a [(&'a str, &'a str)];

    /// Longer than 127 bytes, so lengths take two varint bytes.
    const LONG: &str = "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll";

    fn ext(pairs: &[(&str, &str)]) -> ExternalLabels {
        ExternalLabels::new(
            &pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn prost_series(labels: &[(&str, &str)], ts: i64, v: f64) -> proto::TimeSeries {
        proto::TimeSeries {
            labels: labels
                .iter()
                .map(|(n, v)| proto::Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            samples: vec![proto::Sample {
                value: v,
                timestamp: ts,
            }],
        }
    }

    #[test]
    fn bytes_equal_prost() {
        let cases: &[(&str, i64, f64)] = &[
            ("plain", 1_700_000_000_123, 42.5),
            ("zero value", 1_700_000_000_123, 0.0),
            ("zero timestamp", 0, 1.0),
            ("negative timestamp", -5, -1.0),
            ("nan", 1, f64::NAN),
            ("stale marker", 2, crate::series::stale_nan()),
            ("infinity", 3, f64::INFINITY),
        ];
        let long = "v".repeat(200);
        let pairs = [("__name__", "up"), ("instance", "a:9"), ("long", &long)];
        let labels = Labels::from_pairs(pairs);
        let mut enc = Encoder::new(ExternalLabels::default());
        let mut want = proto::WriteRequest::default();
        for (name, ts, v) in cases {
            enc.push(&labels, *ts, *v);
            want.timeseries.push(prost_series(&pairs, *ts, *v));
            // Byte equality also holds per prefix, which names the failing case.
            assert_eq!(enc.request_bytes(), want.encode_to_vec(), "case {name}");
        }
        let body = enc.finish().unwrap().to_vec();
        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        assert_eq!(raw, want.encode_to_vec());
        // A second request reuses the encoder and starts empty.
        enc.clear();
        assert!(enc.is_empty());
        enc.push(&labels, 7, 7.0);
        let got = proto::WriteRequest::decode(enc.request_bytes()).unwrap();
        assert_eq!(got.timeseries, vec![prost_series(&pairs, 7, 7.0)]);
    }

    #[test]
    fn external_labels_merge_sorted_series_wins() {
        let cases: &[(&str, Pairs, Pairs, Pairs)] = &[
            (
                "interleaved",
                &[("b", "1"), ("d", "2")],
                &[("a", "x"), ("c", "y"), ("e", "z")],
                &[("a", "x"), ("b", "1"), ("c", "y"), ("d", "2"), ("e", "z")],
            ),
            (
                "conflict keeps series value",
                &[("cluster", "mine"), ("job", "j")],
                &[("cluster", "ext"), ("region", "eu")],
                &[("cluster", "mine"), ("job", "j"), ("region", "eu")],
            ),
            (
                "multi-byte lengths",
                &[("a", LONG), (LONG, "1")],
                &[("b", LONG), (LONG, "ext"), ("z", "2")],
                &[("a", LONG), ("b", LONG), (LONG, "1"), ("z", "2")],
            ),
            ("empty series", &[], &[("a", "1")], &[("a", "1")]),
            (
                "empty external value ignored",
                &[("a", "1")],
                &[("b", "")],
                &[("a", "1")],
            ),
        ];
        for (name, series, external, want) in cases {
            let mut enc = Encoder::new(ext(external));
            enc.push(&Labels::from_pairs(series.iter().copied()), 10, 1.0);
            let got = proto::WriteRequest::decode(enc.request_bytes()).unwrap();
            assert_eq!(got.timeseries, vec![prost_series(want, 10, 1.0)], "{name}");
        }
    }

    #[test]
    fn steady_state_reuses_buffers() {
        let labels = Labels::from_pairs([("__name__", "m"), ("job", "j")]);
        let mut enc = Encoder::new(ext(&[("replica", "0")]));
        for i in 0..100 {
            enc.push(&labels, i, i as f64);
        }
        let _ = enc.finish().unwrap();
        let caps = (enc.request.capacity(), enc.compressed.capacity());
        enc.clear();
        for i in 0..100 {
            enc.push(&labels, i, i as f64);
        }
        let _ = enc.finish().unwrap();
        assert_eq!(caps, (enc.request.capacity(), enc.compressed.capacity()));
    }
}
