//! Scalar value types of the configuration: durations, sizes and secrets, written and read
//! the way Prometheus writes them.

use std::cell::Cell;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in Prometheus' notation (`1h30m`, `15s`, `100ms`, `2d`, `1w`, `1y`, `0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub Duration);

impl PromDuration {
    /// Parses Prometheus' duration notation.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "0" {
            return Ok(PromDuration(Duration::ZERO));
        }
        if s.is_empty() {
            return Err("empty duration string".into());
        }
        // Units must appear in this order, each at most once.
        const UNITS: [(&str, u64); 7] = [
            ("y", 365 * 24 * 3600 * 1000),
            ("w", 7 * 24 * 3600 * 1000),
            ("d", 24 * 3600 * 1000),
            ("h", 3600 * 1000),
            ("m", 60 * 1000),
            ("s", 1000),
            ("ms", 1),
        ];
        let bad = || format!("not a valid duration string: {s:?}");
        let mut rest = s;
        let mut next_unit = 0;
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            // ASCII digits and letters: the splits fall on character boundaries.
            let (number, tail) = rest.split_at_checked(digits).ok_or_else(bad)?;
            let n: u64 = number.parse().map_err(|_| bad())?;
            let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
            let (unit, tail) = tail.split_at_checked(unit_len).ok_or_else(bad)?;
            rest = tail;
            let idx = UNITS
                .iter()
                .skip(next_unit)
                .position(|(u, _)| *u == unit)
                .ok_or_else(bad)?
                + next_unit;
            next_unit = idx + 1;
            let (_, factor) = UNITS.get(idx).ok_or_else(bad)?;
            total = n
                .checked_mul(*factor)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("duration out of range: {s:?}"))?;
        }
        Ok(PromDuration(Duration::from_millis(total)))
    }
}

impl fmt::Display for PromDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (u, m) in [
            ("y", 365 * 24 * 3600 * 1000u64),
            ("w", 7 * 24 * 3600 * 1000),
            ("d", 24 * 3600 * 1000),
            ("h", 3600 * 1000),
            ("m", 60 * 1000),
            ("s", 1000),
            ("ms", 1),
        ] {
            if ms >= m {
                write!(f, "{}{}", ms / m, u)?;
                ms %= m;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsing inside the visitor makes a bad value's error carry its position.
        struct V;
        impl Visitor<'_> for V {
            type Value = PromDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 1m or 1h30m")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PromDuration, E> {
                PromDuration::parse(s).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<PromDuration, E> {
                match n {
                    0 => Ok(PromDuration(Duration::ZERO)),
                    _ => Err(E::custom(format!(
                        "not a valid duration string: \"{n}\" (a unit is required, e.g. {n}s)"
                    ))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// A size in bytes, written as Prometheus does (`10MB`, `512KiB`, `0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parses `<number><unit>` with units B, KB, MB, GB, TB, PB, EB (powers of 1024, as
    /// Prometheus' `units.Base2Bytes`), also accepting the `KiB` spelling.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let bad = || format!("not a valid size: {s:?}");
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = t[..digits].parse().map_err(|_| bad())?;
        let unit = t[digits..].trim().to_ascii_uppercase();
        let mult: u64 = match unit.as_str() {
            "" | "B" => 1,
            "KB" | "KIB" | "K" => 1 << 10,
            "MB" | "MIB" | "M" => 1 << 20,
            "GB" | "GIB" | "G" => 1 << 30,
            "TB" | "TIB" | "T" => 1 << 40,
            "PB" | "PIB" | "P" => 1 << 50,
            "EB" | "EIB" | "E" => 1 << 60,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(bad)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}B", self.0))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 512KiB, 10MB or 0")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                u64::try_from(n)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("not a valid size: {n}")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ByteSize, E> {
                ByteSize::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A secret (password, token, key): kept in memory, shown as `<secret>` everywhere.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself; call only where it is sent, never where it is shown.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if EXPOSE_SECRETS.with(Cell::get) {
            s.serialize_str(&self.0)
        } else {
            s.serialize_str("<secret>")
        }
    }
}

/// `raw` with the password of its userinfo replaced by `xxxxx` (as Go's `url.Redacted`),
/// for showing a URL in logs, metrics, the API and error messages.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            // Cannot fail: the URL already has credentials, so it can carry a password.
            let _ = u.set_password(Some("xxxxx"));
            u.to_string()
        }
        Ok(_) => raw.to_string(),
        Err(_) if raw.contains('@') => "<unparsable URL with credentials>".to_string(),
        Err(_) => raw.to_string(),
    }
}

/// serde `serialize_with` for a URL that may carry a password: redacted like a
/// [`Secret`] (real only inside [`with_secrets_exposed`]).
pub(crate) fn serialize_url<S: Serializer>(raw: &str, s: S) -> Result<S::Ok, S::Error> {
    if EXPOSE_SECRETS.with(Cell::get) {
        s.serialize_str(raw)
    } else {
        s.serialize_str(&redact_url(raw))
    }
}

/// [`serialize_url`] for an optional URL.
pub(crate) fn serialize_opt_url<S: Serializer>(
    raw: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match raw {
        Some(u) => serialize_url(u, s),
        None => s.serialize_none(),
    }
}

thread_local! {
    /// Set only while [`with_secrets_exposed`] runs on this thread.
    static EXPOSE_SECRETS: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with secrets serialized as their real value on this thread, so that a content
/// hash notices a changed password. The output of such a serialization must never leave `f`
/// other than as a hash.
pub(crate) fn with_secrets_exposed<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EXPOSE_SECRETS.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(EXPOSE_SECRETS.with(|c| c.replace(true)));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let ms = |s: &str| PromDuration::parse(s).map(|d| d.0.as_millis());
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("1m"), Ok(60_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("100ms"), Ok(100));
        assert_eq!(ms("1s500ms"), Ok(1_500));
        assert_eq!(ms("2d"), Ok(172_800_000));
        assert!(ms("1m1h").is_err());
        assert!(ms("1.5s").is_err());
        assert!(ms("s").is_err());
        assert!(ms("").is_err());
        assert!(ms("5").is_err());
        assert_eq!(PromDuration::parse("1h30m").unwrap().to_string(), "1h30m");
    }

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("0"), Ok(ByteSize(0)));
        assert_eq!(ByteSize::parse("10MB"), Ok(ByteSize(10 << 20)));
        assert_eq!(ByteSize::parse("512KiB"), Ok(ByteSize(512 << 10)));
        assert!(ByteSize::parse("ten").is_err());
    }

    #[test]
    fn secrets_are_hidden() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<secret>\"");
        assert_eq!(s.expose(), "hunter2");
        let shown = with_secrets_exposed(|| serde_json::to_string(&s).unwrap());
        assert_eq!(shown, "\"hunter2\"");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<secret>\"");
    }
}
