//! Filling defaults (Prometheus' values and its inheritance from `global`), resolving relative
//! paths against the config file's directory, and collecting warnings. Runs after the checks.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::http::HttpClientConfig;
use super::types::{
    Config, GlobalConfig, RemoteWriteConfig, ScrapeConfig, default_scrape_interval,
};
use super::validate::default_scrape_protocols;
use super::values::{ByteSize, PromDuration};

/// Fills every default of an already checked config. Jobs' paths must already be resolved
/// (each against its own file's directory, see [`set_job_directory`]).
pub(crate) fn apply_defaults(cfg: &mut Config, dir: &Path, warnings: &mut Vec<String>) {
    resolve_global(&mut cfg.global, dir);
    let g = cfg.global.clone();
    for sc in &mut cfg.scrape_configs {
        resolve_scrape(Arc::make_mut(sc), &g);
    }
    for rw in &mut cfg.remote_write {
        resolve_remote_write(rw, dir);
    }
    if let Some(op) = &mut cfg.prometheus_operator {
        set_http_directory(&mut op.http, dir);
        if let Some(k) = &mut op.kubeconfig_file {
            join_dir(dir, k);
        }
        resolve_http(&mut op.http, true);
    }
    collect_warnings(cfg, warnings);
}

fn nonzero(d: Option<PromDuration>) -> Option<PromDuration> {
    d.filter(|d| !d.0.is_zero())
}

fn resolve_global(g: &mut GlobalConfig, dir: &Path) {
    if g.scrape_interval.0.is_zero() {
        g.scrape_interval = default_scrape_interval();
    }
    let timeout = nonzero(g.scrape_timeout).unwrap_or(PromDuration(
        Duration::from_secs(10).min(g.scrape_interval.0),
    ));
    g.scrape_timeout = Some(timeout);
    if nonzero(g.evaluation_interval).is_none() {
        g.evaluation_interval = Some(PromDuration(Duration::from_secs(60)));
    }
    g.body_size_limit.get_or_insert(ByteSize(0));
    for limit in [
        &mut g.sample_limit,
        &mut g.label_limit,
        &mut g.label_name_length_limit,
        &mut g.label_value_length_limit,
        &mut g.target_limit,
        &mut g.keep_dropped_targets,
    ] {
        limit.get_or_insert(0);
    }
    g.scrape_protocols
        .get_or_insert_with(default_scrape_protocols);
    for f in [&mut g.query_log_file, &mut g.scrape_failure_log_file]
        .into_iter()
        .flatten()
    {
        join_dir(dir, f);
    }
}

/// Prometheus' `ScrapeConfig.Validate(global)`: unset (or zero) values inherit.
pub(crate) fn resolve_scrape(sc: &mut ScrapeConfig, g: &GlobalConfig) {
    let interval = nonzero(sc.scrape_interval).unwrap_or(g.scrape_interval);
    sc.scrape_interval = Some(interval);
    let global_timeout = g
        .scrape_timeout
        .unwrap_or(PromDuration(Duration::from_secs(10)));
    sc.scrape_timeout = Some(nonzero(sc.scrape_timeout).unwrap_or(global_timeout.min(interval)));
    if sc.body_size_limit.is_none_or(|b| b.0 == 0) {
        sc.body_size_limit = Some(g.body_size_limit.unwrap_or_default());
    }
    for (own, global) in [
        (&mut sc.sample_limit, g.sample_limit),
        (&mut sc.label_limit, g.label_limit),
        (&mut sc.label_name_length_limit, g.label_name_length_limit),
        (&mut sc.label_value_length_limit, g.label_value_length_limit),
        (&mut sc.target_limit, g.target_limit),
        (&mut sc.keep_dropped_targets, g.keep_dropped_targets),
    ] {
        if own.is_none_or(|v| v == 0) {
            *own = Some(global.unwrap_or(0));
        }
    }
    if sc.scrape_protocols.is_none() {
        sc.scrape_protocols = Some(
            g.scrape_protocols
                .clone()
                .unwrap_or_else(default_scrape_protocols),
        );
    }
    if sc
        .metric_name_validation_scheme
        .as_deref()
        .is_none_or(str::is_empty)
    {
        sc.metric_name_validation_scheme = Some(
            g.metric_name_validation_scheme
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "utf8".into()),
        );
    }
    if sc.scrape_failure_log_file.is_none() {
        sc.scrape_failure_log_file = g.scrape_failure_log_file.clone();
    }
    sc.metrics_path.get_or_insert_with(|| "/metrics".into());
    sc.scheme.get_or_insert_with(|| "http".into());
    sc.honor_timestamps.get_or_insert(true);
    sc.track_timestamps_staleness.get_or_insert(false);
    sc.enable_compression.get_or_insert(true);
    resolve_http(&mut sc.http, true);
    for f in &mut sc.file_sd_configs {
        f.refresh_interval
            .get_or_insert(PromDuration(Duration::from_secs(300)));
    }
    for h in &mut sc.http_sd_configs {
        h.refresh_interval
            .get_or_insert(PromDuration(Duration::from_secs(60)));
        resolve_http(&mut h.http, true);
    }
    for k in &mut sc.kubernetes_sd_configs {
        resolve_http(&mut k.http, true);
    }
}

fn resolve_remote_write(rw: &mut RemoteWriteConfig, dir: &Path) {
    rw.remote_timeout
        .get_or_insert(PromDuration(Duration::from_secs(30)));
    rw.protobuf_message
        .get_or_insert_with(|| "prometheus.WriteRequest".into());
    rw.send_exemplars.get_or_insert(false);
    rw.send_native_histograms.get_or_insert(false);
    // Prometheus' remote-write client defaults to HTTP/1.1.
    resolve_http(&mut rw.http, false);
    set_http_directory(&mut rw.http, dir);
}

/// Defaults, and Prometheus' move of the legacy bearer token into `authorization`.
fn resolve_http(h: &mut HttpClientConfig, http2: bool) {
    h.follow_redirects.get_or_insert(true);
    h.enable_http2.get_or_insert(http2);
    let token = h.bearer_token.take().filter(|t| !t.expose().is_empty());
    let token_file = h.bearer_token_file.take().filter(|f| !f.is_empty());
    if h.authorization.is_none() && (token.is_some() || token_file.is_some()) {
        h.authorization = Some(super::http::Authorization {
            kind: None,
            credentials: token,
            credentials_file: token_file,
        });
    }
    if let Some(a) = &mut h.authorization {
        let kind = a.kind.as_deref().map(str::trim).unwrap_or("");
        a.kind = Some(if kind.is_empty() {
            "Bearer".into()
        } else {
            kind.to_string()
        });
    }
}

/// Resolves a job's relative paths against `dir` (its file's directory).
pub(crate) fn set_job_directory(sc: &mut ScrapeConfig, dir: &Path) {
    set_http_directory(&mut sc.http, dir);
    for f in &mut sc.file_sd_configs {
        for file in &mut f.files {
            join_dir(dir, file);
        }
    }
    for h in &mut sc.http_sd_configs {
        set_http_directory(&mut h.http, dir);
    }
    for k in &mut sc.kubernetes_sd_configs {
        set_http_directory(&mut k.http, dir);
        if let Some(f) = &mut k.kubeconfig_file {
            join_dir(dir, f);
        }
    }
    if let Some(f) = &mut sc.scrape_failure_log_file {
        join_dir(dir, f);
    }
}

fn set_http_directory(h: &mut HttpClientConfig, dir: &Path) {
    let mut files: Vec<&mut String> = Vec::new();
    if let Some(b) = &mut h.basic_auth {
        files.extend(b.username_file.as_mut());
        files.extend(b.password_file.as_mut());
    }
    if let Some(a) = &mut h.authorization {
        files.extend(a.credentials_file.as_mut());
    }
    files.extend(h.bearer_token_file.as_mut());
    if let Some(t) = &mut h.tls_config {
        files.extend(t.ca_file.as_mut());
        files.extend(t.cert_file.as_mut());
        files.extend(t.key_file.as_mut());
    }
    for f in files {
        join_dir(dir, f);
    }
}

/// Prometheus' `JoinDir`: empty and absolute paths stay; relative ones go under `dir`.
pub(crate) fn join_dir(dir: &Path, path: &mut String) {
    if path.is_empty() || Path::new(path.as_str()).is_absolute() || dir.as_os_str().is_empty() {
        return;
    }
    *path = dir.join(path.as_str()).to_string_lossy().into_owned();
}

/// Go's `os.Expand` as Prometheus applies it to external label values: `$VAR` and `${VAR}`
/// are replaced from `env`, `$$` is `$`; `empty` is told about variables that expand to "".
pub(crate) fn expand_env(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
    empty: &mut dyn FnMut(&str),
) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                // Go drops a `${` without its `}` and keeps what follows.
                None => ("", 1),
            }
        } else if after.starts_with('$') {
            ("$", 1)
        } else {
            let n = after
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            (&after[..n], n)
        };
        if consumed == 0 {
            // A lone `$`: Go keeps it.
            out.push('$');
        } else if name == "$" {
            out.push('$');
        } else if !name.is_empty() {
            match env(name).filter(|v| !v.is_empty()) {
                Some(v) => out.push_str(&v),
                None => empty(name),
            }
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

fn collect_warnings(cfg: &Config, w: &mut Vec<String>) {
    let ignored = [
        ("storage", cfg.storage.is_some(), "shoal keeps no TSDB"),
        ("tracing", cfg.tracing.is_some(), "shoal exports no traces"),
        ("runtime", cfg.runtime.is_some(), "it tunes the Go runtime"),
        ("otlp", cfg.otlp.is_some(), "shoal has no OTLP receiver"),
    ];
    for (section, present, why) in ignored {
        if present {
            w.push(format!("section {section:?} is ignored: {why}"));
        }
    }
    let g = &cfg.global;
    if g.scrape_failure_log_file.is_some() {
        w.push("global.scrape_failure_log_file is ignored: shoal logs scrape failures through its own log".into());
    }
    let flags = [
        ("scrape_native_histograms", g.scrape_native_histograms),
        (
            "convert_classic_histograms_to_nhcb",
            g.convert_classic_histograms_to_nhcb,
        ),
        ("extra_scrape_metrics", g.extra_scrape_metrics),
    ];
    for (k, v) in flags {
        if v == Some(true) {
            w.push(format!("global.{k} is ignored: not supported by shoal"));
        }
    }
    for sc in &cfg.scrape_configs {
        let job = &sc.job_name;
        let flags = [
            ("scrape_native_histograms", sc.scrape_native_histograms),
            (
                "convert_classic_histograms_to_nhcb",
                sc.convert_classic_histograms_to_nhcb,
            ),
            ("extra_scrape_metrics", sc.extra_scrape_metrics),
        ];
        for (k, v) in flags {
            if v == Some(true) {
                w.push(format!(
                    "job {job:?}: {k} is ignored: not supported by shoal"
                ));
            }
        }
        if sc
            .scrape_protocols
            .as_ref()
            .is_some_and(|p| p.iter().any(|p| p == "PrometheusProto"))
        {
            w.push(format!("job {job:?}: scrape protocol PrometheusProto is not supported by shoal; targets are asked for the text formats"));
        }
    }
    for (i, rw) in cfg.remote_write.iter().enumerate() {
        let name = rw.name.clone().unwrap_or_else(|| format!("#{i}"));
        for (k, v) in [
            ("send_exemplars", rw.send_exemplars),
            ("send_native_histograms", rw.send_native_histograms),
        ] {
            if v == Some(true) {
                w.push(format!(
                    "remote_write {name}: {k} is ignored: shoal sends float samples only"
                ));
            }
        }
    }
}
