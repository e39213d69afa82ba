//! Byte-level scanning shared by both formats: names, quoted strings, label sets.
//!
//! Everything works on offsets into the body and never indexes without a bound check:
//! the input comes from the network.

use std::borrow::Cow;

use super::error::{ErrorKind, Fail, Scan};

const METRIC_START: u8 = 1;
const METRIC_CONT: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CONT: u8 = 8;

/// Character classes of the legacy (unquoted) name syntax, one lookup per byte.
static CLASS: [u8; 256] = build_classes();

/// The class bits of byte `b` (the table covers every byte value).
#[inline]
#[allow(clippy::indexing_slicing, reason = "a u8 indexes a 256-entry table")]
fn class_of(b: u8) -> u8 {
    CLASS[usize::from(b)]
}

#[allow(
    clippy::indexing_slicing,
    reason = "const evaluation: `i` < 256 by the loop"
)]
const fn build_classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let mut class = 0;
        if alpha {
            class |= METRIC_START | METRIC_CONT | LABEL_START | LABEL_CONT;
        }
        if b == b':' {
            class |= METRIC_START | METRIC_CONT;
        }
        if b.is_ascii_digit() {
            class |= METRIC_CONT | LABEL_CONT;
        }
        table[i] = class;
        i += 1;
    }
    table
}

/// The two grammars differ in whitespace, separators and line breaks in strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Prometheus text 0.0.4: blanks between tokens, optional commas, raw newlines in strings.
    Text,
    /// OpenMetrics 1.0: no blanks, `,` or `}` after each value, no raw newline in strings.
    OpenMetrics,
}

/// A quoted string's contents, validated; escapes are still in place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quoted<'a> {
    pub raw: &'a [u8],
    pub escaped: bool,
}

/// A scanned `{...}` label set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelSet<'a> {
    /// The bytes between the braces.
    pub inner: &'a [u8],
    /// A quoted metric name given inside the braces (`{"my.metric", ...}`).
    pub name: Option<Quoted<'a>>,
}

/// A read position in the body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline]
    pub fn at(&self, b: u8) -> bool {
        self.peek() == Some(b)
    }

    #[inline]
    pub fn eat(&mut self, b: u8) -> bool {
        let hit = self.at(b);
        self.pos += usize::from(hit);
        hit
    }

    /// True if the input at the cursor starts with `s` (does not move).
    #[inline]
    pub fn looking_at(&self, s: &[u8]) -> bool {
        self.buf
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(s))
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline]
    pub fn fail<T>(&self, kind: ErrorKind) -> Scan<T> {
        Err(Fail {
            kind,
            pos: self.pos,
        })
    }

    /// A failure at the cursor, reported as a carriage return if that is what is there.
    pub fn fail_here<T>(&self, kind: ErrorKind) -> Scan<T> {
        if self.at(b'\r') {
            return self.fail(ErrorKind::CarriageReturn);
        }
        self.fail(kind)
    }

    #[inline]
    pub fn slice(&self, start: usize, end: usize) -> &'a [u8] {
        self.buf.get(start..end).unwrap_or_default()
    }

    /// Skips spaces and tabs (text format whitespace).
    #[inline]
    pub fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    #[inline]
    fn take_class(&mut self, start: u8, cont: u8) -> Option<&'a [u8]> {
        let from = self.pos;
        let first = self.peek()?;
        if class_of(first) & start == 0 {
            return None;
        }
        let mut i = from + 1;
        while let Some(&b) = self.buf.get(i) {
            if class_of(b) & cont == 0 {
                break;
            }
            i += 1;
        }
        self.pos = i;
        Some(self.slice(from, i))
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    #[inline]
    pub fn metric_name(&mut self) -> Option<&'a [u8]> {
        self.take_class(METRIC_START, METRIC_CONT)
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    #[inline]
    pub fn label_name(&mut self) -> Option<&'a [u8]> {
        self.take_class(LABEL_START, LABEL_CONT)
    }

    /// Takes bytes up to (not including) the first `stop` byte or the end.
    #[inline]
    pub fn token(&mut self, stop: impl Fn(u8) -> bool) -> &'a [u8] {
        let from = self.pos;
        let rest = self.buf.get(from..).unwrap_or_default();
        let len = rest.iter().position(|&b| stop(b)).unwrap_or(rest.len());
        self.pos = from + len;
        self.slice(from, from + len)
    }

    /// Takes the rest of the line, leaving the cursor on the `\n` (or at the end).
    pub fn rest_of_line(&mut self) -> &'a [u8] {
        self.token(|b| b == b'\n')
    }

    /// Scans a quoted string at the cursor; checks UTF-8 only when a non-ASCII byte is seen.
    #[inline]
    pub fn quoted(&mut self, dialect: Dialect) -> Scan<Quoted<'a>> {
        let open = self.pos;
        if !self.eat(b'"') {
            return self.fail(ErrorKind::ExpectedLabelValue);
        }
        let start = self.pos;
        let buf = self.buf;
        let newline_ok = dialect == Dialect::Text;
        let mut i = start;
        let mut high = 0u8;
        let mut escaped = false;
        let unterminated = Fail {
            kind: ErrorKind::UnterminatedString,
            pos: open,
        };
        loop {
            let Some(&b) = buf.get(i) else {
                return Err(unterminated);
            };
            high |= b;
            match b {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match buf.get(i + 1) {
                        None => return Err(unterminated),
                        Some(b'\n') => {
                            return Err(Fail {
                                kind: ErrorKind::InvalidEscape,
                                pos: i,
                            });
                        }
                        Some(&next) => high |= next,
                    }
                    i += 2;
                }
                b'\n' if !newline_ok => {
                    return Err(Fail {
                        kind: ErrorKind::NewlineInString,
                        pos: i,
                    });
                }
                _ => i += 1,
            }
        }
        let raw = self.slice(start, i);
        if high >= 0x80
            && let Err(e) = std::str::from_utf8(raw)
        {
            return Err(Fail {
                kind: ErrorKind::InvalidUtf8,
                pos: start + e.valid_up_to(),
            });
        }
        self.pos = i + 1;
        Ok(Quoted { raw, escaped })
    }

    /// Scans a label set after its `{` through its `}`, validating every pair.
    ///
    /// `name_given`: a metric name came before the braces, so a quoted name inside is an
    /// error. `exemplar`: exemplar label sets cannot carry a metric name.
    pub fn label_set(
        &mut self,
        dialect: Dialect,
        name_given: bool,
        exemplar: bool,
    ) -> Scan<LabelSet<'a>> {
        let text = dialect == Dialect::Text;
        let start = self.pos;
        let mut name = None;
        loop {
            if text {
                self.skip_blanks();
            }
            let item = self.pos;
            let quoted = match self.peek() {
                Some(b'}') => break,
                Some(b'"') => {
                    let q = self.quoted(dialect)?;
                    if q.raw.is_empty() {
                        return Err(Fail {
                            kind: ErrorKind::EmptyName,
                            pos: item,
                        });
                    }
                    Some(q)
                }
                _ => {
                    if self.label_name().is_none() {
                        return self.fail_here(ErrorKind::ExpectedLabelName);
                    }
                    None
                }
            };
            if text {
                self.skip_blanks();
            }
            if let Some(q) = quoted
                && matches!(self.peek(), Some(b',' | b'}'))
            {
                // A lone quoted string is the metric name (Prometheus 3 UTF-8 syntax).
                if exemplar {
                    return self.fail(ErrorKind::ExpectedEquals);
                }
                if name_given || name.is_some() {
                    return Err(Fail {
                        kind: ErrorKind::MetricNameTwice,
                        pos: item,
                    });
                }
                name = Some(q);
                self.eat(b',');
                continue;
            }
            if !self.eat(b'=') {
                return self.fail_here(ErrorKind::ExpectedEquals);
            }
            if text {
                self.skip_blanks();
            }
            if !self.at(b'"') {
                return self.fail_here(ErrorKind::ExpectedLabelValue);
            }
            self.quoted(dialect)?;
            if text {
                self.skip_blanks();
                // Prometheus' text parser makes the comma optional; so do we.
                self.eat(b',');
            } else if !self.eat(b',') && !self.at(b'}') {
                return self.fail_here(ErrorKind::ExpectedCommaOrBrace);
            }
        }
        let inner = self.slice(start, self.pos);
        self.pos += 1; // the `}` seen by the loop
        Ok(LabelSet { inner, name })
    }
}

/// Which escape sequences a string understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escapes {
    /// `\\`, `\"` and `\n` (label values, quoted names, OpenMetrics help).
    Quoted,
    /// `\\` and `\n` only (text-format help).
    TextHelp,
}

/// Turns validated raw bytes into a string, unescaping only if needed. Unknown escapes are
/// kept as written, as Prometheus does.
pub(crate) fn unescape(raw: &[u8], escapes: Escapes) -> Cow<'_, str> {
    let s = String::from_utf8_lossy(raw);
    if !s.contains('\\') {
        return s;
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if escapes == Escapes::Quoted => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Iterates over the labels of a validated label set, in exposition order.
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    cur: Cursor<'a>,
}

impl<'a> LabelIter<'a> {
    pub(crate) fn new(inner: &'a [u8]) -> Self {
        LabelIter {
            cur: Cursor::new(inner),
        }
    }
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (Cow<'a, str>, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        // The set was validated by `Cursor::label_set`; any surprise just ends iteration.
        let c = &mut self.cur;
        loop {
            while matches!(c.peek(), Some(b' ' | b'\t' | b',')) {
                c.pos += 1;
            }
            let name = match c.peek()? {
                b'"' => {
                    let q = c.quoted(Dialect::Text).ok()?;
                    unescape(q.raw, Escapes::Quoted)
                }
                _ => unescape(c.label_name()?, Escapes::Quoted),
            };
            c.skip_blanks();
            if !c.eat(b'=') {
                continue; // the quoted metric name
            }
            c.skip_blanks();
            let value = c.quoted(Dialect::Text).ok()?;
            return Some((name, unescape(value.raw, Escapes::Quoted)));
        }
    }
}
