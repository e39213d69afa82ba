//! A label set read from two sorted wire runs without copying: a series' own labels and
//! the ones its target's series share.

use std::fmt;

use super::{Iter, Label, Labels, METRIC_NAME, take_field};

/// The encoded length and the name of the first label in `buf`
/// (`0x0a len [0x0a len name 0x12 len value]`).
pub(crate) fn split_label(buf: &[u8]) -> Option<(usize, &[u8])> {
    let (msg, rest) = take_field(buf, 0x0a)?;
    let (name, _) = take_field(msg, 0x0a)?;
    Some((buf.len() - rest.len(), name))
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
