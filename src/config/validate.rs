//! Semantic checks, as pure functions of the parsed config. Each failure names the YAML path
//! of the offending key so that the loader can turn it into `file:line:column`.
//!
//! Messages follow Prometheus' wording where Prometheus has the same check.

use super::types::{Config, GlobalConfig, ScrapeConfig};
pub(crate) use super::validate_client::{check_http, check_remote_write};

/// One step of a path into the YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A failed check: where (path from the document root) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Issue {
    pub path: Vec<Seg>,
    pub message: String,
}

impl Issue {
    pub(crate) fn at(path: &[&str], message: impl Into<String>) -> Issue {
        Issue {
            path: path.iter().map(|k| Seg::Key((*k).to_string())).collect(),
            message: message.into(),
        }
    }
    /// Puts `prefix` in front of the path (the issue was found in a sub-section).
    pub fn under(mut self, prefix: &[Seg]) -> Issue {
        let mut path = prefix.to_vec();
        path.append(&mut self.path);
        self.path = path;
        self
    }
    pub(crate) fn then(mut self, seg: Seg) -> Issue {
        self.path.insert(0, seg);
        self
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

pub(crate) type Check = Result<(), Issue>;

/// Scrape protocols Prometheus knows, by config name.
pub(crate) const SCRAPE_PROTOCOLS: [&str; 5] = [
    "OpenMetricsText0.0.1",
    "OpenMetricsText1.0.0",
    "PrometheusProto",
    "PrometheusText0.0.4",
    "PrometheusText1.0.0",
];

/// Prometheus' default `scrape_protocols` (no native histograms).
pub(crate) fn default_scrape_protocols() -> Vec<String> {
    [
        "OpenMetricsText1.0.0",
        "OpenMetricsText0.0.1",
        "PrometheusText1.0.0",
        "PrometheusText0.0.4",
    ]
    .map(String::from)
    .to_vec()
}

/// The checks on the top level that do not need any section resolved: agent mode, globs.
pub(crate) fn check_top_level(cfg: &Config) -> Check {
    if !cfg.rule_files.is_empty() {
        return Err(Issue::at(
            &["rule_files"],
            "field rule_files is not allowed in agent mode",
        ));
    }
    if let Some(a) = &cfg.alerting
        && (!a.alertmanagers.is_empty() || !a.alert_relabel_configs.is_empty())
    {
        return Err(Issue::at(
            &["alerting"],
            "field alerting is not allowed in agent mode",
        ));
    }
    if !cfg.remote_read.is_empty() {
        return Err(Issue::at(
            &["remote_read"],
            "field remote_read is not allowed in agent mode",
        ));
    }
    for (i, f) in cfg.scrape_config_files.iter().enumerate() {
        if !glob_only_in_last_component(f) {
            return Err(Issue {
                path: vec![key("scrape_config_files"), Seg::Index(i)],
                message: format!("invalid scrape config file path {f:?}"),
            });
        }
    }
    Ok(())
}

/// Prometheus' `^[^*]*(\*[^/]*)?$`: a `*` may appear only in the last path component.
fn glob_only_in_last_component(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(i) => !p[i..].contains('/'),
    }
}

/// Checks the `global` section.
pub(crate) fn check_global(g: &GlobalConfig) -> Check {
    let interval = if g.scrape_interval.0.is_zero() {
        super::types::default_scrape_interval()
    } else {
        g.scrape_interval
    };
    if let Some(t) = g.scrape_timeout
        && t > interval
    {
        return Err(Issue::at(
            &["global", "scrape_timeout"],
            "global scrape timeout greater than scrape interval",
        ));
    }
    check_scheme_names(g.metric_name_validation_scheme.as_deref())
        .map_err(|m| Issue::at(&["global", "metric_name_validation_scheme"], m))?;
    let legacy = g.legacy_label_names();
    for name in g.external_labels.keys() {
        let at = || vec![key("global"), key("external_labels"), key(name)];
        if name == "__name__" {
            return Err(Issue {
                path: at(),
                message: "external label \"__name__\" is not allowed".into(),
            });
        }
        if !valid_label_name(name, legacy) {
            return Err(Issue {
                path: at(),
                message: format!("{name:?} is not a valid label name"),
            });
        }
    }
    if let Some(p) = &g.scrape_protocols {
        check_protocols(p).map_err(|m| {
            Issue::at(
                &["global", "scrape_protocols"],
                format!("{m} for global config"),
            )
        })?;
    }
    Ok(())
}

fn check_scheme_names(s: Option<&str>) -> Result<(), String> {
    match s {
        None | Some("") | Some("utf8") | Some("legacy") => Ok(()),
        Some(other) => Err(format!(
            "unknown name validation method specified, must be either '', 'legacy' or 'utf8', got {other}"
        )),
    }
}

fn check_protocols(p: &[String]) -> Result<(), String> {
    if p.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    let mut seen = Vec::with_capacity(p.len());
    for sp in p {
        let lower = sp.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(format!(
                "duplicated protocol in scrape_protocols, got {p:?}"
            ));
        }
        if !SCRAPE_PROTOCOLS.contains(&sp.as_str()) {
            return Err(format!(
                "scrape_protocols: unknown scrape protocol {sp}, supported: {SCRAPE_PROTOCOLS:?}"
            ));
        }
        seen.push(lower);
    }
    Ok(())
}

/// Whether `name` is a valid label name: any non-empty UTF-8 string (Prometheus 3's default),
/// or `[a-zA-Z_][a-zA-Z0-9_]*` under the legacy scheme.
pub(crate) fn valid_label_name(name: &str, legacy: bool) -> bool {
    if !legacy {
        return !name.is_empty();
    }
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Checks one job against the (already checked) global section. Paths are relative to the job.
pub(crate) fn check_scrape(sc: &ScrapeConfig, g: &GlobalConfig) -> Check {
    let job = &sc.job_name;
    if job.is_empty() {
        return Err(Issue::at(&["job_name"], "job_name is empty"));
    }
    let interval = sc
        .scrape_interval
        .filter(|d| !d.0.is_zero())
        .unwrap_or(g.scrape_interval);
    if let Some(t) = sc.scrape_timeout.filter(|d| !d.0.is_zero())
        && t > interval
    {
        return Err(Issue::at(
            &["scrape_timeout"],
            format!(
                "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
            ),
        ));
    }
    if let Some(p) = &sc.scrape_protocols {
        check_protocols(p).map_err(|m| {
            Issue::at(
                &["scrape_protocols"],
                format!("{m} for scrape config with job name {job:?}"),
            )
        })?;
    }
    if let Some(f) = &sc.fallback_scrape_protocol
        && !SCRAPE_PROTOCOLS.contains(&f.as_str())
    {
        return Err(Issue::at(
            &["fallback_scrape_protocol"],
            format!(
                "invalid fallback_scrape_protocol for scrape config with job name {job:?}: unknown scrape protocol {f}, supported: {SCRAPE_PROTOCOLS:?}"
            ),
        ));
    }
    check_scheme_names(sc.metric_name_validation_scheme.as_deref())
        .map_err(|m| Issue::at(&["metric_name_validation_scheme"], m))?;
    if let Some(s) = &sc.scheme
        && s != "http"
        && s != "https"
    {
        return Err(Issue::at(
            &["scheme"],
            format!(
                "scheme must be \"http\" or \"https\", got {s:?} in scrape config with job name {job:?}"
            ),
        ));
    }
    check_http(&sc.http)?;
    let legacy = match sc.metric_name_validation_scheme.as_deref() {
        Some("legacy") => true,
        Some("utf8") => false,
        _ => g.legacy_label_names(),
    };
    for (i, st) in sc.static_configs.iter().enumerate() {
        let at = |rest: Vec<Seg>| {
            let mut p = vec![key("static_configs"), Seg::Index(i)];
            p.extend(rest);
            p
        };
        // Prometheus checks addresses only without relabeling: rules may turn a URL into an
        // address (blackbox probes list URLs as targets).
        if sc.relabel_configs.is_empty() {
            for (j, t) in st.targets.iter().enumerate() {
                let msg = if t.is_empty() {
                    "empty target address".to_string()
                } else if t.contains('/') {
                    format!("{t:?} is not a valid hostname")
                } else {
                    continue;
                };
                return Err(Issue {
                    path: at(vec![key("targets"), Seg::Index(j)]),
                    message: msg,
                });
            }
        }
        for name in st.labels.keys() {
            if !valid_label_name(name, legacy) {
                return Err(Issue {
                    path: at(vec![key("labels"), key(name)]),
                    message: format!("{name:?} is not a valid label name"),
                });
            }
        }
    }
    for (i, f) in sc.file_sd_configs.iter().enumerate() {
        let at = |rest: &[&str]| {
            let mut p = vec![key("file_sd_configs"), Seg::Index(i)];
            p.extend(rest.iter().map(|k| key(k)));
            p
        };
        if f.files.is_empty() {
            return Err(Issue {
                path: at(&["files"]),
                message: "file service discovery config must contain at least one path name".into(),
            });
        }
        for (j, name) in f.files.iter().enumerate() {
            if !valid_file_sd_name(name) {
                return Err(Issue {
                    path: [at(&["files"]), vec![Seg::Index(j)]].concat(),
                    message: format!("path name {name:?} is not valid for file discovery"),
                });
            }
        }
        if f.refresh_interval.is_some_and(|d| d.0.is_zero()) {
            return Err(Issue {
                path: at(&["refresh_interval"]),
                message: "refresh_interval must be greater than 0".into(),
            });
        }
    }
    for (i, h) in sc.http_sd_configs.iter().enumerate() {
        let prefix = [key("http_sd_configs"), Seg::Index(i)];
        check_http_url(&h.url, "URL").map_err(|m| Issue::at(&["url"], m).under(&prefix))?;
        if h.refresh_interval.is_some_and(|d| d.0.is_zero()) {
            return Err(Issue::at(
                &["refresh_interval"],
                "refresh_interval must be greater than 0",
            )
            .under(&prefix));
        }
        check_http(&h.http).map_err(|e| e.under(&prefix))?;
    }
    for (i, k) in sc.kubernetes_sd_configs.iter().enumerate() {
        let prefix = [key("kubernetes_sd_configs"), Seg::Index(i)];
        super::kubernetes::check_kubernetes(k).map_err(|e| e.under(&prefix))?;
    }
    Ok(())
}

/// Prometheus' `^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$`.
fn valid_file_sd_name(p: &str) -> bool {
    let stem = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"]
        .iter()
        .find_map(|ext| p.strip_suffix(ext));
    stem.is_some_and(glob_only_in_last_component)
}

/// An absolute http(s) URL with a host; `what` names it in messages.
pub(crate) fn check_http_url(raw: &str, what: &str) -> Result<url::Url, String> {
    if raw.is_empty() {
        return Err(format!("{what} is missing"));
    }
    let u = url::Url::parse(raw)
        .map_err(|e| format!("invalid {what} {:?}: {e}", super::values::redact_url(raw)))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!(
            "{what} scheme must be 'http' or 'https', got {:?}",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("host is missing in {what}"));
    }
    Ok(u)
}

/// Whether an optional string is set to something non-empty (Prometheus treats "" as unset).
pub(crate) fn set(s: &Option<impl AsRef<str>>) -> bool {
    s.as_ref().is_some_and(|v| !v.as_ref().is_empty())
}
