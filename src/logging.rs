//! Log output: logfmt (Prometheus' default shape) or JSON, on stderr.

use crate::model::time::rfc3339_millis;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::{LogArgs, LogFormat, LogLevel};

/// Installs the global subscriber. `RUST_LOG` overrides `--log.level` when set.
pub fn init(args: &LogArgs) {
    let level = match args.level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warn => "warn",
        LogLevel::Error => "error",
    };
    // Dependencies are noisy at debug; keep them at warn unless RUST_LOG says otherwise.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,shoal={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = match args.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
}

/// `ts=2026-11-22T04:00:00.000Z level=info caller=shoal::scrape msg="..." key=value`.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let level = match *meta.level() {
            Level::ERROR => "error",
            Level::WARN => "warn",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        write!(
            w,
            "ts={} level={level} caller={}",
            now_rfc3339(),
            meta.target()
        )?;
        let mut v = LogfmtVisitor::default();
        event.record(&mut v);
        if let Some(msg) = v.message {
            write!(w, " msg=")?;
            write_value(&mut w, &msg)?;
        }
        w.write_str(&v.fields)?;
        writeln!(w)
    }
}

#[derive(Default)]
struct LogfmtVisitor {
    message: Option<String>,
    fields: String,
}

impl Visit for LogfmtVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_owned());
            return;
        }
        let _ = write!(self.fields, " {}=", field.name());
        let _ = write_value(&mut self.fields, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Quotes a value when it contains spaces, quotes or `=`, as logfmt readers expect.
fn write_value(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    if !s.is_empty() && !s.contains([' ', '"', '=', '\n', '\t']) {
        return w.write_str(s);
    }
    write!(w, "{s:?}")
}

/// UTC now as RFC 3339 with milliseconds, without pulling a date crate.
fn now_rfc3339() -> String {
    rfc3339_millis(crate::model::clock::unix_ms())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(1_763_780_005_123),
            "2025-11-22T02:53:25.123Z"
        );
        assert_eq!(rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn logfmt_quoting() {
        let mut s = String::new();
        write_value(&mut s, "plain").unwrap();
        s.push(' ');
        write_value(&mut s, "has space").unwrap();
        s.push(' ');
        write_value(&mut s, "").unwrap();
        assert_eq!(s, r#"plain "has space" """#);
    }
}
