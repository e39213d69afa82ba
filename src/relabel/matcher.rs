//! A rule's compiled regex, with shortcuts for the patterns most configs use.

use std::sync::Arc;

use regex::Regex;

use super::config::DEFAULT_REGEX;
use super::goregex::compile_shared;
use super::template::{GroupNames, MatchAllGroups, Template};

/// How a rule matches its input (the joined source values, or a label name).
#[derive(Clone, Debug)]
pub(crate) enum Matcher {
    /// `(.*)`, the default: every input matches, group 1 = the input.
    All,
    /// `(.+)`: every non-empty input matches, group 1 = the input.
    NonEmpty,
    /// A pattern that matches one string only (`metrics`, `(web);true`), for rules that
    /// use no capture group: compared, not compiled (a compiled regex holds kilobytes;
    /// jobs generated from ServiceMonitors each carry such a selector pattern).
    Literal(Box<str>),
    /// Anything else, anchored. `prefix` is a literal every match starts with, checked
    /// before running the engine (most label names fail a labelmap/labeldrop there).
    Regex { re: Arc<Regex>, prefix: Box<str> },
}

impl Matcher {
    /// Compiles `pattern` as Prometheus does (`^(?s:<pattern>)$`).
    pub(crate) fn compile(pattern: &str) -> Result<Matcher, regex::Error> {
        Ok(match pattern {
            DEFAULT_REGEX => Matcher::All,
            "(.+)" => Matcher::NonEmpty,
            _ => Matcher::Regex {
                re: compile_shared(pattern)?,
                prefix: literal_prefix(pattern).into(),
            },
        })
    }

    /// [`Matcher::compile`] for a rule whose templates use no capture group: a pattern
    /// that can match one string only becomes [`Matcher::Literal`].
    pub(crate) fn compile_without_groups(pattern: &str) -> Result<Matcher, regex::Error> {
        // `single_string` accepts balanced groups of plain characters only, which are
        // always valid regexes: nothing Prometheus refuses becomes a literal.
        match single_string(pattern) {
            Some(text) => Ok(Matcher::Literal(text.into())),
            None => Matcher::compile(pattern),
        }
    }

    /// True when the whole of `s` matches.
    pub(crate) fn is_match(&self, s: &str) -> bool {
        match self {
            Matcher::All => true,
            Matcher::NonEmpty => !s.is_empty(),
            Matcher::Literal(text) => s == &**text,
            Matcher::Regex { re, prefix } => s.starts_with(&**prefix) && re.is_match(s),
        }
    }

    /// The group names templates are resolved against.
    pub(crate) fn groups(&self) -> &dyn GroupNames {
        match self {
            Matcher::All | Matcher::NonEmpty | Matcher::Literal(_) => &MatchAllGroups,
            Matcher::Regex { re, .. } => &**re,
        }
    }

    /// Expands each template into its buffer (cleared first) for the match of `input`;
    /// false, with buffers untouched, when `input` does not match.
    pub(crate) fn expand<const N: usize>(
        &self,
        input: &str,
        templates: [(&Template, &mut String); N],
    ) -> bool {
        if !self.is_match(input) {
            return false;
        }
        match self {
            // Group 0 and group 1 are both the whole input.
            Matcher::All | Matcher::NonEmpty => expand_all(templates, |_| Some(input)),
            Matcher::Regex { re, .. } if templates.iter().any(|(t, _)| t.uses_groups()) => {
                let Some(caps) = re.captures(input) else {
                    return false;
                };
                expand_all(templates, |i| caps.get(i).map(|m| m.as_str()));
            }
            Matcher::Regex { .. } | Matcher::Literal(_) => expand_all(templates, |_| None),
        }
        true
    }
}

/// The one string `pattern` matches when it has no regex syntax but plain capture groups
/// (`(web);true` → `web;true`); `None` otherwise.
fn single_string(pattern: &str) -> Option<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize;
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' if chars.peek() != Some(&'?') => depth += 1,
            ')' if depth > 0 => depth -= 1,
            c if c.is_ascii_alphanumeric() || "_-;:/ ,=@#%&!~<>'\"".contains(c) => out.push(c),
            _ => return None,
        }
    }
    (depth == 0).then_some(out)
}

fn expand_all<'h, const N: usize>(
    templates: [(&Template, &mut String); N],
    group: impl Fn(usize) -> Option<&'h str>,
) {
    for (t, out) in templates {
        out.clear();
        t.expand_into(out, &group);
    }
}

/// The literal text every match of `pattern` must start with ("" when unsure).
///
/// Conservative: the leading run of `[A-Za-z0-9_]` characters, minus the last one if a
/// quantifier follows it, and nothing at all if the pattern has a top-level `|`.
pub(crate) fn literal_prefix(pattern: &str) -> &str {
    if has_top_level_alternation(pattern) {
        return "";
    }
    let end = pattern
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(pattern.len());
    let (prefix, rest) = pattern.split_at(end);
    if rest.starts_with(['?', '*', '+', '{']) {
        // The quantifier applies to the last character, which is then optional.
        let mut chars = prefix.chars();
        chars.next_back();
        return chars.as_str();
    }
    prefix
}

/// True when `pattern` has a `|` outside groups and classes.
fn has_top_level_alternation(pattern: &str) -> bool {
    let mut depth = 0usize;
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '[' if !in_class => {
                in_class = true;
                // A `]` right after `[` or `[^` is a literal.
                let rest = chars.as_str();
                let skip = if rest.starts_with("^]") {
                    2
                } else {
                    usize::from(rest.starts_with(']'))
                };
                for _ in 0..skip {
                    chars.next();
                }
            }
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => depth = depth.saturating_sub(1),
            '|' if !in_class && depth == 0 => return true,
            _ => {}
        }
    }
    false
}
