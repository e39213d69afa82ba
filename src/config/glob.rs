//! Go's `filepath.Glob` for the patterns Prometheus allows in `scrape_config_files`: the
//! directory is literal, the file name may hold `*`, `?` and `[...]` classes. The
//! matcher (Go's `filepath.Match` syntax) also serves file_sd's patterns.

use std::path::{Path, PathBuf};

/// The files matching `pattern`, sorted. Like Go's Glob, unreadable directories and a
/// pattern matching nothing give an empty list, not an error.
pub(crate) fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?', '[']) {
        return if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = match pattern.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let pat: Vec<char> = name.chars().collect();
    if !well_formed(&pat) {
        return Vec::new();
    }
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| matches(&pat, &e.file_name().to_string_lossy()))
        .map(|e| match pattern.parent() {
            Some(p) => p.join(e.file_name()),
            None => PathBuf::from(e.file_name()),
        })
        .collect();
    out.sort();
    out
}

/// Every `[` is closed by a later `]` with at least one item, and no `\` ends the pattern.
pub(crate) fn well_formed(p: &[char]) -> bool {
    let mut i = 0;
    while let Some(&c) = p.get(i) {
        match c {
            '\\' if i + 1 >= p.len() => return false,
            '\\' => i += 2,
            '[' => match class_end(p, i) {
                Some(end) => i = end,
                None => return false,
            },
            _ => i += 1,
        }
    }
    true
}

/// Index just past the `]` closing the class that opens at `start`.
fn class_end(p: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let first = i;
    while let Some(&c) = p.get(i) {
        match c {
            ']' if i > first => return Some(i + 1),
            ']' => return None,
            '\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Whether `c` is in the class at `p[start..]` (which starts with `[` and is well formed).
fn class_matches(p: &[char], start: usize, c: char) -> bool {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    let lit = |i: &mut usize| -> Option<char> {
        let ch = *p.get(*i)?;
        if ch == '\\' {
            *i += 2;
            p.get(*i - 1).copied()
        } else {
            *i += 1;
            Some(ch)
        }
    };
    while let Some(&ch) = p.get(i) {
        if ch == ']' {
            break;
        }
        let Some(lo) = lit(&mut i) else { break };
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|n| *n != ']') {
            i += 1;
            match lit(&mut i) {
                Some(h) => hi = h,
                None => break,
            }
        }
        if lo <= c && c <= hi {
            hit = true;
        }
    }
    hit != negate
}

/// Whether `name` matches the (well-formed) pattern `p`; `*` matches any run of characters.
pub(crate) fn matches(p: &[char], name: &str) -> bool {
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&nc) = n.get(ni) {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class_end(p, pi).filter(|_| class_matches(p, pi, nc)),
            Some('\\') => p.get(pi + 1).filter(|c| **c == nc).map(|_| pi + 2),
            Some(c) if *c == nc => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                // Let the last `*` swallow one more character and retry.
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wildcard_match(p: &str, name: &str) -> bool {
        let p: Vec<char> = p.chars().collect();
        well_formed(&p) && matches(&p, name)
    }

    #[test]
    fn wildcards() {
        let cases = [
            ("*.yml", "jobs.yml", true),
            ("*.yml", "jobs.yaml", false),
            ("job-?.yml", "job-1.yml", true),
            ("job-[0-9].yml", "job-7.yml", true),
            ("job-[^0-9].yml", "job-7.yml", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*", "", true),
            ("exact.yml", "exact.yml", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(wildcard_match(p, n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn matching() {
        let cases = [
            ("*.json", "a.json", true),
            ("*.json", ".hidden.json", true),
            ("*.json", "a.json.bak", false),
            ("*.json", "a.yml", false),
            ("t?.yml", "t1.yml", true),
            ("t?.yml", "t12.yml", false),
            ("[a-c]*.yml", "b-targets.yml", true),
            ("[a-c]*.yml", "d.yml", false),
            ("[^a-c]*.yml", "d.yml", true),
            ("*-*.json", "x-y-z.json", true),
            ("\\*.json", "*.json", true),
            ("\\*.json", "a.json", false),
            ("**", "", true),
        ];
        for (pat, name, want) in cases {
            let p: Vec<char> = pat.chars().collect();
            assert!(well_formed(&p), "{pat}");
            assert_eq!(matches(&p, name), want, "{pat} vs {name}");
        }
    }
}
