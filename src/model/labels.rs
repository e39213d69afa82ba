//! Label sets: the identity of a target and of a series.
//!
//! A finished [`Labels`] is stored in the exact bytes that remote write 1.0 puts in a
//! `TimeSeries` (a run of `Label` messages, field 1), because a series is built once and
//! encoded many times: encoding it for a request is then a copy, and the whole set is one
//! heap allocation. Mutation happens in a [`LabelsBuilder`], on the cold path only
//! (target discovery, a series seen for the first time, relabeling).

use std::fmt;

pub(crate) use super::wire::{put_varint, read_varint, varint_len};

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

/// The encoded length and the name of the first label in `buf`
/// (`0x0a len [0x0a len name 0x12 len value]`).
pub(crate) fn split_label(buf: &[u8]) -> Option<(usize, &[u8])> {
    let (tag, after) = buf.split_first()?;
    let (len, n) = read_varint(after)?;
    // Checked: the lengths are read from bytes (ours, but a wrong length must not panic).
    let total = (1 + n).checked_add(usize::try_from(len).ok()?)?;
    let msg = buf.get(1 + n..total)?;
    let (name_tag, after) = msg.split_first()?;
    if *tag != 0x0a || *name_tag != 0x0a {
        return None;
    }
    let (name_len, m) = read_varint(after)?;
    let name = after.get(m..m.checked_add(usize::try_from(name_len).ok()?)?)?;
    Some((total, name))
}

/// A label set held as two sorted wire runs with disjoint names (a series' own labels and
/// its target's shared ones), read as one sorted set without copying.
#[derive(Clone, Copy, Debug)]
pub struct LabelsRef<'a> {
    a: &'a [u8],
    b: &'a [u8],
}

impl<'a> From<&'a Labels> for LabelsRef<'a> {
    fn from(l: &'a Labels) -> Self {
        LabelsRef { a: &l.wire, b: &[] }
    }
}

impl<'a> LabelsRef<'a> {
    /// Two runs in [`Labels::wire_bytes`] form whose names are disjoint.
    pub(crate) fn from_runs(a: &'a [u8], b: &'a [u8]) -> Self {
        LabelsRef { a, b }
    }

    /// The wire bytes when the set is one run already (no merge needed).
    pub fn as_single_run(&self) -> Option<&'a [u8]> {
        match (self.a.is_empty(), self.b.is_empty()) {
            (_, true) => Some(self.a),
            (true, false) => Some(self.b),
            (false, false) => None,
        }
    }

    /// Length of the merged wire form.
    pub fn wire_len(&self) -> usize {
        self.a.len() + self.b.len()
    }

    /// Appends the merged wire form (what [`Labels::wire_bytes`] would hold) to `out`.
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        if let Some(run) = self.as_single_run() {
            out.extend_from_slice(run);
            return;
        }
        let (mut a, mut b) = (self.a, self.b);
        while let (Some((la, na)), Some((lb, nb))) = (split_label(a), split_label(b)) {
            // Names are disjoint: the smaller one goes first.
            let run = if na < nb { &mut a } else { &mut b };
            let len = if na < nb { la } else { lb };
            let (label, rest) = run.split_at(len.min(run.len()));
            out.extend_from_slice(label);
            *run = rest;
        }
        // One run is done (or, on bytes that are not ours, unreadable: kept, not lost).
        out.extend_from_slice(a);
        out.extend_from_slice(b);
    }

    /// xxh3-64 of the merged wire form.
    pub fn wire_hash(&self) -> u64 {
        match self.as_single_run() {
            Some(run) => xxhash_rust::xxh3::xxh3_64(run),
            None => {
                let mut buf = Vec::with_capacity(self.wire_len());
                self.write_wire(&mut buf);
                xxhash_rust::xxh3::xxh3_64(&buf)
            }
        }
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> MergedIter<'a> {
        MergedIter {
            a: Iter { rest: self.a }.peekable(),
            b: Iter { rest: self.b }.peekable(),
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|l| l.name == name).map(|l| l.value)
    }

    /// The metric name (`__name__`), if present.
    pub fn metric_name(&self) -> Option<&'a str> {
        self.get(METRIC_NAME)
    }

    /// An owned copy, as one run.
    pub fn to_labels(&self) -> Labels {
        let mut wire = Vec::with_capacity(self.wire_len());
        self.write_wire(&mut wire);
        Labels { wire: wire.into() }
    }
}

/// Prometheus' notation: `{a="1", b="2"}`.
impl fmt::Display for LabelsRef<'_> {
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

/// Iterator over a [`LabelsRef`] in name order.
pub struct MergedIter<'a> {
    a: std::iter::Peekable<Iter<'a>>,
    b: std::iter::Peekable<Iter<'a>>,
}

impl<'a> Iterator for MergedIter<'a> {
    type Item = Label<'a>;

    fn next(&mut self) -> Option<Label<'a>> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y.name < x.name => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

/// Splits `full` into the labels not in `shared` and `shared` itself, when every label of
/// `shared` is in `full` with the same value (a series that carries its target's labels
/// unchanged); `None` otherwise (relabeling or honor_labels changed a target label).
pub(crate) fn split_off_shared(full: &Labels, shared: &Labels) -> Option<Vec<u8>> {
    let (mut rest, mut sh) = (&full.wire[..], &shared.wire[..]);
    let mut own = Vec::with_capacity(rest.len().saturating_sub(sh.len()));
    while let Some((len, name)) = split_label(rest) {
        let (label, tail) = rest.split_at(len.min(rest.len()));
        match split_label(sh) {
            Some((slen, sname)) if sname == name => {
                if sh.get(..slen) != Some(label) {
                    return None;
                }
                sh = sh.get(slen..)?;
            }
            // A shared label sorts before this one but was not in `full`.
            Some((_, sname)) if sname < name => return None,
            _ => own.extend_from_slice(label),
        }
        rest = tail;
    }
    (rest.is_empty() && sh.is_empty()).then_some(own)
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
