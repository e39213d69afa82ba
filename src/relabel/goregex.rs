//! Go (RE2) regex syntax on top of Rust's `regex` crate.
//!
//! Both engines share RE2 syntax and leftmost-first semantics, but a few escapes mean
//! different things: in Go `\d \w \s \b` are ASCII, in Rust they are Unicode-aware; and
//! inside a class Go reads `[`, `&&` and `~~` literally where Rust nests or combines
//! classes. The pattern is rewritten for those cases before compiling, so a rule matches
//! the same values as in Prometheus. Go-only syntax that Rust lacks (octal escapes, `\C`)
//! is passed through and reported as an invalid regex.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use regex::Regex;

/// Compiles `pattern` as Prometheus does: fully anchored, `.` matching newlines
/// (`^(?s:<pattern>)$`).
pub(crate) fn compile_anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?s:{})$", translate(pattern)))
}

/// Compiled regexes by pattern, shared by every rule that uses the same one.
struct Interned {
    by_pattern: HashMap<String, Arc<Regex>>,
    /// Size after the last sweep of unused entries: the next sweep runs at twice that.
    swept_at: usize,
}

static INTERNED: Mutex<Option<Interned>> = Mutex::new(None);

/// [`compile_anchored`], shared: equal patterns of different rules and jobs use one
/// compiled regex (a compiled regex holds kilobytes of automata; two thousand jobs
/// generated from ServiceMonitors repeat the same few patterns). Entries no rule uses
/// any more are dropped as the table grows.
pub(crate) fn compile_shared(pattern: &str) -> Result<Arc<Regex>, regex::Error> {
    let mut guard = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    let table = guard.get_or_insert_with(|| Interned {
        by_pattern: HashMap::new(),
        swept_at: 0,
    });
    if let Some(re) = table.by_pattern.get(pattern) {
        return Ok(Arc::clone(re));
    }
    let re = Arc::new(compile_anchored(pattern)?);
    if table.by_pattern.len() >= (2 * table.swept_at).max(1024) {
        table.by_pattern.retain(|_, re| Arc::strong_count(re) > 1);
        table.swept_at = table.by_pattern.len();
    }
    table
        .by_pattern
        .insert(pattern.to_string(), Arc::clone(&re));
    Ok(re)
}

/// Rewrites Go-specific escapes and class syntax into the Rust equivalent.
pub(crate) fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    // Just after `[` or `[^`, where Go reads `]` as a literal.
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = std::mem::replace(&mut class_start, false);
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                match e {
                    'd' => out.push_str("[0-9]"),
                    'D' => out.push_str("[^0-9]"),
                    'w' => out.push_str("[0-9A-Za-z_]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    's' => out.push_str(r"[\t\n\f\r ]"),
                    'S' => out.push_str(r"[^\t\n\f\r ]"),
                    'b' if !in_class => out.push_str(r"(?-u:\b)"),
                    'B' if !in_class => out.push_str(r"(?-u:\B)"),
                    'Q' if !in_class => {
                        // `\Q...\E` quotes literally up to `\E` or the end.
                        let mut lit = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            lit.push(q);
                        }
                        out.push_str(&regex::escape(&lit));
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            '[' if chars.peek() == Some(&':') => {
                // POSIX class such as `[:alpha:]`: copy through `:]`.
                out.push('[');
                let mut prev = '[';
                for p in chars.by_ref() {
                    out.push(p);
                    if prev == ':' && p == ']' {
                        break;
                    }
                    prev = p;
                }
            }
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            '[' | ']' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}
