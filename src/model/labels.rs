//! Label sets: the identity of a target and of a series.
//!
//! A finished [`Labels`] is stored in the exact bytes that remote write 1.0 puts in a
//! `TimeSeries` (a run of `Label` messages, field 1), because a series is built once and
//! encoded many times: encoding it for a request is then a copy, and the whole set is one
//! heap allocation. Mutation happens in a [`LabelsBuilder`], on the cold path only
//! (target discovery, a series seen for the first time, relabeling).

use std::fmt;

pub(crate) use super::wire::{put_varint, read_varint, varint_len};

mod runs;
pub use runs::{LabelsRef, MergedIter};
pub(crate) use runs::{split_label, split_off_shared};

/// Name of the label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";
/// Prefix of discovery metadata labels, removed after target relabeling.
pub const META_LABEL_PREFIX: &str = "__meta_";

/// An immutable, sorted label set with unique names and no empty values.
///
/// Invariants (upheld by every constructor): names strictly ascending by bytes, values
/// non-empty, names and values valid UTF-8.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Labels {
    wire: Box<[u8]>,
}

/// One borrowed name/value pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label<'a> {
    /// The label name.
    pub name: &'a str,
    /// The label value (never empty inside a [`Labels`]).
    pub value: &'a str,
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds a label set from pairs in any order; empty values are dropped and a later
    /// duplicate name replaces an earlier one.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut b = LabelsBuilder::new();
        for (n, v) in pairs {
            b.set(n, v);
        }
        b.build()
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.wire }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there are no labels.
    pub fn is_empty(&self) -> bool {
        self.wire.is_empty()
    }

    /// The labels encoded as remote-write 1.0 `repeated Label labels = 1` of a
    /// `TimeSeries`: append these bytes to a `TimeSeries` body as they are.
    pub fn wire_bytes(&self) -> &[u8] {
        &self.wire
    }

    /// Rebuilds a label set from bytes produced by [`Labels::wire_bytes`] (read back from
    /// disk); `None` if they are not a valid set (bad encoding, unsorted or duplicate names,
    /// empty values), so damaged input can never break the invariants.
    pub fn from_wire(wire: &[u8]) -> Option<Labels> {
        let mut rest = wire;
        let mut prev: Option<&str> = None;
        while !rest.is_empty() {
            let (msg, tail) = take_field(rest, 0x0a)?;
            let (name, msg) = take_field(msg, 0x0a)?;
            let (value, msg) = take_field(msg, 0x12)?;
            let name = std::str::from_utf8(name).ok()?;
            std::str::from_utf8(value).ok()?;
            if !msg.is_empty() || value.is_empty() || prev.is_some_and(|p| p >= name) {
                return None;
            }
            prev = Some(name);
            rest = tail;
        }
        Some(Labels { wire: wire.into() })
    }

    /// A builder seeded with these labels.
    pub fn to_builder(&self) -> LabelsBuilder {
        let mut b = LabelsBuilder::with_capacity(8);
        for l in self.iter() {
            b.pairs.push((l.name.to_owned(), l.value.to_owned()));
        }
        b
    }

    /// Owned pairs, in name order (for JSON APIs and tests).
    pub fn to_map(&self) -> std::collections::BTreeMap<String, String> {
        self.iter()
            .map(|l| (l.name.to_owned(), l.value.to_owned()))
            .collect()
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Prometheus' notation: `{a="1", b="2"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Iterator over a [`Labels`] in name order.
pub struct Iter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        // Layout per label: 0x0a len(msg) [0x0a len(name) name 0x12 len(value) value].
        // Written only by `encode_label`; a malformed buffer would be a bug and ends the
        // iteration instead of panicking.
        let (msg, rest) = take_field(self.rest, 0x0a)?;
        let (name, msg) = take_field(msg, 0x0a)?;
        let (value, _) = take_field(msg, 0x12)?;
        self.rest = rest;
        Some(Label {
            name: std::str::from_utf8(name).ok()?,
            value: std::str::from_utf8(value).ok()?,
        })
    }
}

/// Splits `tag varint(len) body` off the front of `buf`: returns (body, rest).
fn take_field(buf: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *buf.first()? != tag {
        return None;
    }
    let (len, n) = read_varint(buf.get(1..)?)?;
    let start = 1 + n;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    Some((buf.get(start..end)?, buf.get(end..)?))
}

/// Appends one remote-write `Label` message as field 1 of a `TimeSeries`.
pub(crate) fn encode_label(out: &mut Vec<u8>, name: &str, value: &str) {
    let body = 1
        + varint_len(name.len() as u64)
        + name.len()
        + 1
        + varint_len(value.len() as u64)
        + value.len();
    out.push(0x0a);
    put_varint(out, body as u64);
    out.push(0x0a);
    put_varint(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
    out.push(0x12);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value.as_bytes());
}

/// A mutable label set, used while relabeling and building series.
///
/// Keeps insertion order until [`LabelsBuilder::build`], which sorts, drops empty values and
/// keeps the last value set for a name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelsBuilder {
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `n` labels.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            pairs: Vec::with_capacity(n),
        }
    }

    /// Sets `name` to `value`; an empty value deletes the label (Prometheus semantics).
    pub fn set(&mut self, name: &str, value: &str) {
        if value.is_empty() {
            self.del(name);
            return;
        }
        match self.pairs.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => {
                v.clear();
                v.push_str(value);
            }
            None => self.pairs.push((name.to_owned(), value.to_owned())),
        }
    }

    /// Removes `name` if present.
    pub fn del(&mut self, name: &str) {
        self.pairs.retain(|(n, _)| n != name);
    }

    /// The current value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Keeps only labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.pairs.retain(|(n, v)| keep(n, v));
    }

    /// Current pairs, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of labels currently set.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// True when no label is set.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Removes every label, keeping the allocation.
    pub fn clear(&mut self) {
        self.pairs.clear();
    }

    /// Finishes the set: sorted by name, empty values dropped.
    pub fn build(&self) -> Labels {
        let mut refs: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        refs.sort_by(|a, b| a.0.cmp(b.0));
        // `set` keeps names unique; dedup guards pairs pushed by `to_builder` + `set` misuse.
        refs.dedup_by(|b, a| a.0 == b.0);
        let cap: usize = refs.iter().map(|(n, v)| n.len() + v.len() + 8).sum();
        let mut wire = Vec::with_capacity(cap);
        for (n, v) in refs {
            encode_label(&mut wire, n, v);
        }
        Labels {
            wire: wire.into_boxed_slice(),
        }
    }
}

impl From<&Labels> for LabelsBuilder {
    fn from(l: &Labels) -> Self {
        l.to_builder()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_sorted_without_empty_values() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("b", "3")]);
        let v: Vec<_> = l.iter().map(|l| (l.name, l.value)).collect();
        assert_eq!(v, vec![("a", "1"), ("b", "3")]);
        assert_eq!(l.get("b"), Some("3"));
        assert_eq!(l.get("c"), None);
        assert_eq!(l.len(), 2);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
    }

    #[test]
    fn long_values_use_multibyte_varints() {
        let long = "x".repeat(300);
        let l = Labels::from_pairs([("__name__", "m"), ("long", long.as_str())]);
        assert_eq!(l.get("long"), Some(long.as_str()));
        assert_eq!(l.metric_name(), Some("m"));
    }

    #[test]
    fn wire_bytes_are_remote_write_labels() {
        let l = Labels::from_pairs([("a", "b")]);
        // Label{name:"a", value:"b"} as TimeSeries field 1.
        assert_eq!(l.wire_bytes(), &[0x0a, 6, 0x0a, 1, b'a', 0x12, 1, b'b']);
    }

    #[test]
    fn from_wire_round_trips_and_rejects_damage() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a"), ("z", "1")]);
        assert_eq!(Labels::from_wire(l.wire_bytes()), Some(l.clone()));
        assert_eq!(Labels::from_wire(&[]), Some(Labels::empty()));
        let w = l.wire_bytes();
        assert_eq!(Labels::from_wire(&w[..w.len() - 1]), None, "truncated");
        let mut swapped = Labels::from_pairs([("z", "1")]).wire_bytes().to_vec();
        swapped.extend_from_slice(Labels::from_pairs([("a", "1")]).wire_bytes());
        assert_eq!(Labels::from_wire(&swapped), None, "unsorted");
        let mut dup = Labels::from_pairs([("a", "1")]).wire_bytes().to_vec();
        dup.extend_from_slice(Labels::from_pairs([("a", "2")]).wire_bytes());
        assert_eq!(Labels::from_wire(&dup), None, "duplicate");
        assert_eq!(Labels::from_wire(&[0x0a, 4, 0x0a, 1, b'a', 0x12, 0]), None);
    }

    #[test]
    fn varint_len_matches_encoding() {
        for v in [
            0u64,
            1,
            127,
            128,
            16383,
            16384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }
}
