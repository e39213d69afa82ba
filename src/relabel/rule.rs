//! One compiled rule and how it changes a label set.

use std::fmt::Write as _;
use std::num::NonZeroU64;

use super::config::{Action, DEFAULT_REGEX, DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR, RelabelConfig};
use super::error::RelabelError;
use super::matcher::Matcher;
use super::template::{Template, is_valid_label_name};
use crate::labels::LabelsBuilder;
use md5::{Digest, Md5};

/// What the rule does, with everything its action needs resolved.
#[derive(Clone, Debug)]
enum Op {
    Replace {
        target: Template,
        replacement: Template,
    },
    Keep,
    Drop,
    KeepEqual {
        target: String,
    },
    DropEqual {
        target: String,
    },
    HashMod {
        target: String,
        modulus: NonZeroU64,
    },
    LabelMap {
        replacement: Template,
    },
    LabelDrop,
    LabelKeep,
    Lowercase {
        target: String,
    },
    Uppercase {
        target: String,
    },
}

/// A validated rule with its regex and templates compiled.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    source_labels: Box<[String]>,
    separator: String,
    matcher: Matcher,
    op: Op,
}

/// Buffers reused across rules and calls (one set per thread).
#[derive(Default)]
pub(crate) struct Scratch {
    value: String,
    target: String,
    out: String,
    pending: Vec<(String, String)>,
}

impl Rule {
    /// Validates `cfg` and compiles it.
    pub(crate) fn compile(cfg: &RelabelConfig) -> Result<Rule, RelabelError> {
        let action = cfg.validate()?;
        let regex = cfg.regex.as_deref().unwrap_or(DEFAULT_REGEX);
        // Only replace and labelmap expand capture groups into templates.
        let compile = match action {
            Action::Replace | Action::LabelMap => Matcher::compile,
            _ => Matcher::compile_without_groups,
        };
        let matcher = compile(regex).map_err(|source| RelabelError::InvalidRegex {
            regex: regex.to_owned(),
            source,
        })?;
        let target = cfg.target_label.clone().unwrap_or_default();
        let replacement = cfg.replacement.as_deref().unwrap_or(DEFAULT_REPLACEMENT);
        let groups = matcher.groups();
        let op = match action {
            Action::Replace => Op::Replace {
                target: Template::compile(&target, groups),
                replacement: Template::compile(replacement, groups),
            },
            Action::Keep => Op::Keep,
            Action::Drop => Op::Drop,
            Action::KeepEqual => Op::KeepEqual { target },
            Action::DropEqual => Op::DropEqual { target },
            Action::HashMod => Op::HashMod {
                target,
                modulus: NonZeroU64::new(cfg.modulus.unwrap_or(0))
                    .ok_or(RelabelError::ZeroModulus)?,
            },
            Action::LabelMap => Op::LabelMap {
                replacement: Template::compile(replacement, groups),
            },
            Action::LabelDrop => Op::LabelDrop,
            Action::LabelKeep => Op::LabelKeep,
            Action::Lowercase => Op::Lowercase { target },
            Action::Uppercase => Op::Uppercase { target },
        };
        Ok(Rule {
            source_labels: cfg.source_labels.clone().into_boxed_slice(),
            separator: cfg
                .separator
                .clone()
                .unwrap_or_else(|| DEFAULT_SEPARATOR.to_owned()),
            matcher,
            op,
        })
    }

    /// For a verdict shared by many label sets (see [`super::Rules::shared_verdict`]):
    /// `Some(keeps)` when this is a keep/drop rule whose sources are all `shared`
    /// (looked up with `get`), `Err(())` when the rule cannot be judged that way, and
    /// `Ok(None)` for a rule that only writes labels none of the judged rules read.
    pub(crate) fn shared_verdict<'a>(
        &self,
        get: &dyn Fn(&str) -> Option<&'a str>,
        shared: &dyn Fn(&str) -> bool,
        written: &mut Vec<String>,
        value: &mut String,
    ) -> Result<Option<bool>, ()> {
        let readable = |n: &String| shared(n) && !written.iter().any(|w| w == n);
        match &self.op {
            Op::Keep | Op::Drop if self.source_labels.iter().all(readable) => {
                value.clear();
                for (i, name) in self.source_labels.iter().enumerate() {
                    if i > 0 {
                        value.push_str(&self.separator);
                    }
                    value.push_str(get(name).unwrap_or(""));
                }
                let m = self.matcher.is_match(value);
                Ok(Some(if matches!(self.op, Op::Keep) { m } else { !m }))
            }
            Op::Replace { target, .. } => match target.as_literal() {
                Some(t) => {
                    written.push(t.to_string());
                    Ok(None)
                }
                None => Err(()),
            },
            _ => Err(()),
        }
    }

    /// Applies the rule; false when it drops the label set.
    pub(crate) fn apply(&self, labels: &mut LabelsBuilder, scratch: &mut Scratch) -> bool {
        let Scratch {
            value,
            target: target_buf,
            out,
            pending,
        } = scratch;
        if !matches!(self.op, Op::LabelMap { .. } | Op::LabelDrop | Op::LabelKeep) {
            self.join_sources(labels, value);
        }
        match &self.op {
            Op::Keep => return self.matcher.is_match(value),
            Op::Drop => return !self.matcher.is_match(value),
            Op::KeepEqual { target } => return labels.get(target).unwrap_or("") == value.as_str(),
            Op::DropEqual { target } => return labels.get(target).unwrap_or("") != value.as_str(),
            Op::Replace {
                target,
                replacement,
            } => {
                if let (Matcher::All, Some(t), Some(r)) =
                    (&self.matcher, target.as_literal(), replacement.as_literal())
                {
                    // No reference to the input: a constant label (empty deletes).
                    labels.set(t, r);
                } else if self
                    .matcher
                    .expand(value, [(target, &mut *target_buf), (replacement, &mut *out)])
                    // Prometheus skips the rule when the expanded name is not a label name.
                    && is_valid_label_name(target_buf)
                {
                    labels.set(target_buf, out);
                }
            }
            Op::Lowercase { target } => {
                go_case(value, out, char::to_lowercase, go_simple_lower);
                labels.set(target, out);
            }
            Op::Uppercase { target } => {
                go_case(value, out, char::to_uppercase, go_simple_upper);
                labels.set(target, out);
            }
            Op::HashMod { target, modulus } => {
                let h: [u8; 16] = Md5::digest(value.as_bytes()).into();
                // Bytes 8..16, big-endian, as Prometheus (kept for stable shard numbers).
                let [_, _, _, _, _, _, _, _, tail @ ..] = h;
                out.clear();
                let _ = write!(out, "{}", u64::from_be_bytes(tail) % modulus.get());
                labels.set(target, out);
            }
            Op::LabelMap { replacement } => {
                // Like Prometheus' `Builder.Range`: names and values come from the set as it
                // was before this rule, so new labels are not mapped again.
                pending.clear();
                for (name, v) in labels.iter() {
                    if self.matcher.expand(name, [(replacement, &mut *out)]) {
                        pending.push((out.clone(), v.to_owned()));
                    }
                }
                // Like Prometheus, the new name is not validated here; the scrape checks
                // final label names.
                for (n, v) in pending.iter() {
                    labels.set(n, v);
                }
            }
            Op::LabelDrop => labels.retain(|n, _| !self.matcher.is_match(n)),
            Op::LabelKeep => labels.retain(|n, _| self.matcher.is_match(n)),
        }
        true
    }

    /// Joins the source label values (missing = empty) into `out`.
    fn join_sources(&self, labels: &LabelsBuilder, out: &mut String) {
        out.clear();
        for (i, name) in self.source_labels.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.separator);
            }
            out.push_str(labels.get(name).unwrap_or(""));
        }
    }
}

/// Go's `strings.ToLower`/`ToUpper`: per character simple case mapping. Rust's full
/// mapping can turn one character into several (`ß` → `SS`); Go keeps one character.
fn go_case<I: Iterator<Item = char>>(
    input: &str,
    out: &mut String,
    full: fn(char) -> I,
    simple_special: fn(char) -> Option<char>,
) {
    out.clear();
    for c in input.chars() {
        let mut mapped = full(c);
        match (mapped.next(), mapped.next()) {
            (Some(m), None) => out.push(m),
            _ => out.push(simple_special(c).unwrap_or(c)),
        }
    }
}

/// Simple lowercase for the one character whose full lowercase has several characters.
fn go_simple_lower(c: char) -> Option<char> {
    (c == '\u{130}').then_some('i')
}

/// Simple uppercase for characters whose full uppercase has several characters; the
/// rest of those (`ß`, ligatures, ...) have no simple mapping and stay as they are.
fn go_simple_upper(c: char) -> Option<char> {
    let shifted = |offset: u32| char::from_u32(u32::from(c) + offset);
    match u32::from(c) {
        // Greek with ypogegrammeni: ᾀ..ᾇ → ᾈ..ᾏ and the two rows after.
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => shifted(8),
        0x1FB3 | 0x1FC3 | 0x1FF3 => shifted(9),
        _ => None,
    }
}
