//! Pieces every kind's job is built from, ported from the operator's `promcfg.go`: the
//! ordered YAML map, relabelings, HTTP client settings from Secrets, limits, scrape classes
//! and the enforced namespace label.

use serde_yaml_ng::{Mapping, Value};

use super::super::objects::{
    AttachMetadata, Authorization, BasicAuth, LabelSelector, Meta, RelabelConfig, ScrapeClass,
    ScrapeSettings, SecretKeySelector, SecretOrConfigMap, TlsConfig,
};
use super::{Context, Kind, Reject};

/// A YAML mapping that keeps insertion order, as the operator's `yaml.MapSlice`.
#[derive(Default)]
pub(crate) struct Map(pub Mapping);

impl Map {
    /// Appends `key: value`.
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.0.insert(Value::String(key.to_string()), value.into());
    }
    /// Appends `key: value` when `value` is set.
    pub fn put_opt<T: Into<Value>>(&mut self, key: &str, value: Option<T>) {
        if let Some(v) = value {
            self.put(key, v);
        }
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Mapping(m.0)
    }
}

/// A YAML sequence of strings.
pub(crate) fn strings<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Sequence(
        items
            .iter()
            .map(|s| Value::String(s.as_ref().to_string()))
            .collect(),
    )
}

/// A relabeling from `(key, value)` pairs.
pub(crate) fn rule(items: &[(&str, Value)]) -> Value {
    let mut m = Map::default();
    for (k, v) in items {
        m.put(k, v.clone());
    }
    m.into()
}

/// `Value::String`.
pub(crate) fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// The operator's `sanitizeLabelName`: every character outside `[a-zA-Z0-9_]` becomes `_`.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `generateRelabelConfig`: the CRD relabelings in Prometheus' form.
pub(crate) fn relabelings(rcs: &[RelabelConfig]) -> Vec<Value> {
    rcs.iter()
        .map(|c| {
            let mut m = Map::default();
            if !c.source_labels.is_empty() {
                m.put("source_labels", strings(&c.source_labels));
            }
            m.put_opt("separator", c.separator.clone());
            if !c.target_label.is_empty() {
                m.put("target_label", c.target_label.clone());
            }
            if !c.regex.is_empty() {
                m.put("regex", c.regex.clone());
            }
            if c.modulus != 0 {
                m.put("modulus", c.modulus);
            }
            m.put_opt("replacement", c.replacement.clone());
            if !c.action.is_empty() {
                m.put("action", c.action.to_lowercase());
            }
            m.into()
        })
        .collect()
}

/// Checks relabelings as Prometheus would load them (regex syntax, actions, fields).
pub(crate) fn check_relabelings(rcs: &[RelabelConfig]) -> Result<(), String> {
    let seq = Value::Sequence(relabelings(rcs));
    serde_yaml_ng::from_value::<Vec<crate::relabel::RelabelConfig>>(seq)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `initRelabelings`: the job name kept in a temporary label.
pub(crate) fn init_relabelings() -> Vec<Value> {
    vec![rule(&[
        ("source_labels", strings(&["job"])),
        ("target_label", s("__tmp_prometheus_job_name")),
    ])]
}

/// The keep/drop rules that select objects by label, on `__meta_kubernetes_<role>_label*`.
pub(crate) fn selector_relabelings(sel: &LabelSelector, role: &str) -> Vec<Value> {
    let label = |k: &str| format!("__meta_kubernetes_{role}_label_{}", sanitize(k));
    let present = |k: &str| format!("__meta_kubernetes_{role}_labelpresent_{}", sanitize(k));
    let mut out = Vec::new();
    for (k, v) in &sel.match_labels {
        out.push(rule(&[
            ("action", s("keep")),
            ("source_labels", strings(&[label(k), present(k)])),
            ("regex", s(format!("({v});true"))),
        ]));
    }
    for e in &sel.match_expressions {
        let (action, sources, regex) = match e.operator.as_str() {
            "In" => (
                "keep",
                vec![label(&e.key), present(&e.key)],
                format!("({});true", e.values.join("|")),
            ),
            "NotIn" => (
                "drop",
                vec![label(&e.key), present(&e.key)],
                format!("({});true", e.values.join("|")),
            ),
            "Exists" => ("keep", vec![present(&e.key)], "true".to_string()),
            "DoesNotExist" => ("drop", vec![present(&e.key)], "true".to_string()),
            _ => continue,
        };
        out.push(rule(&[
            ("action", s(action)),
            ("source_labels", strings(&sources)),
            ("regex", s(regex)),
        ]));
    }
    out
}

/// `generateRunningFilter`.
pub(crate) fn running_filter() -> Value {
    rule(&[
        ("action", s("drop")),
        ("source_labels", strings(&["__meta_kubernetes_pod_phase"])),
        ("regex", s("(Failed|Succeeded)")),
    ])
}

/// Copies `__meta_kubernetes_<role>_label_<l>` into `l` when non-empty.
pub(crate) fn copy_label(role: &str, l: &str) -> Value {
    rule(&[
        (
            "source_labels",
            strings(&[format!("__meta_kubernetes_{role}_label_{}", sanitize(l))]),
        ),
        ("target_label", s(sanitize(l))),
        ("regex", s("(.+)")),
        ("replacement", s("${1}")),
    ])
}

impl Context<'_> {
    /// The object's scrape class, or the default one, or none (`getScrapeClassOrDefault`).
    pub(crate) fn scrape_class(&self, name: Option<&String>) -> ScrapeClass {
        let find = |n: &str| self.classes.iter().find(|c| c.name == n).cloned();
        name.and_then(|n| find(n))
            .or_else(|| {
                self.classes
                    .iter()
                    .find(|c| c.default == Some(true))
                    .cloned()
            })
            .unwrap_or_default()
    }

    /// `validateScrapeClass`: a named class must exist.
    pub(crate) fn check_scrape_class(&self, name: Option<&String>) -> Result<(), String> {
        match name.filter(|n| !n.is_empty()) {
            Some(n) if !self.classes.iter().any(|c| &c.name == n) => Err(format!(
                "scrapeClass {n:?} not found in Prometheus scrapeClasses"
            )),
            _ => Ok(()),
        }
    }

    /// `AddHonorLabels`.
    pub(crate) fn honor_labels(&self, cfg: &mut Map, honor: bool) {
        cfg.put(
            "honor_labels",
            honor && !self.settings.override_honor_labels,
        );
    }

    /// `AddHonorTimestamps`.
    pub(crate) fn honor_timestamps(&self, cfg: &mut Map, user: Option<bool>) {
        let over = self.settings.override_honor_timestamps;
        if user.is_none() && !over {
            return;
        }
        cfg.put("honor_timestamps", user.unwrap_or(false) && !over);
    }

    /// `getLimit` for Prometheus >= 2.45: the lower of the object's and the enforced
    /// limit. Where the object sets none, the operator leaves the enforced limit to the
    /// global section; shoal's global section belongs to the file, so the job carries it.
    pub(crate) fn limit(cfg: &mut Map, key: &str, user: Option<u64>, enforced: Option<u64>) {
        let user = user.filter(|&u| u != 0);
        let value = match (user, enforced.filter(|&e| e != 0)) {
            (None, None) => return,
            (Some(u), None) => u,
            (None, Some(e)) => e,
            (Some(u), Some(e)) => u.min(e),
        };
        cfg.put(key, value);
    }

    /// `getLowerByteSize`: the lower of the object's and the enforced body size limit.
    pub(crate) fn body_size_limit(&self, cfg: &mut Map, user: Option<&String>) {
        let enforced = self
            .settings
            .enforced_body_size_limit
            .as_ref()
            .filter(|e| !e.is_empty());
        let user = user.filter(|u| !u.is_empty());
        let parse = |v: &String| crate::config::ByteSize::parse(v).map(|b| b.0).unwrap_or(0);
        let chosen = match (user, enforced) {
            (None, None) => return,
            (Some(u), None) => u,
            (None, Some(e)) => e,
            (Some(u), Some(e)) => {
                if parse(u) > parse(e) {
                    e
                } else {
                    u
                }
            }
        };
        cfg.put("body_size_limit", chosen.clone());
    }

    /// The spec's limits (each the lower of object and enforced value), body size limit
    /// (`getLowerByteSize`; a Probe's own is ignored, as the operator does), native
    /// histogram fields (`addNativeHistogramConfig`, Prometheus 3 names) and scrape
    /// protocols (`addScrapeProtocols`, `addFallbackScrapeProtocol` with the class's).
    pub(crate) fn scrape_settings(
        &self,
        cfg: &mut Map,
        s: ScrapeSettings<'_>,
        class: &ScrapeClass,
        own_body_size_limit: bool,
    ) {
        let st = self.settings;
        for (key, own, enforced) in [
            ("sample_limit", s.sample_limit, st.enforced_sample_limit),
            ("target_limit", s.target_limit, st.enforced_target_limit),
            ("label_limit", s.label_limit, st.enforced_label_limit),
            (
                "label_name_length_limit",
                s.label_name_length_limit,
                st.enforced_label_name_length_limit,
            ),
            (
                "label_value_length_limit",
                s.label_value_length_limit,
                st.enforced_label_value_length_limit,
            ),
            (
                "keep_dropped_targets",
                s.keep_dropped_targets,
                st.enforced_keep_dropped_targets,
            ),
        ] {
            Self::limit(cfg, key, own, enforced);
        }
        cfg.put_opt("scrape_native_histograms", s.scrape_native_histograms);
        cfg.put_opt(
            "native_histogram_bucket_limit",
            s.native_histogram_bucket_limit,
        );
        if let Some(f) = s.native_histogram_min_bucket_factor.and_then(quantity) {
            cfg.put("native_histogram_min_bucket_factor", f);
        }
        cfg.put_opt(
            "always_scrape_classic_histograms",
            s.scrape_classic_histograms,
        );
        cfg.put_opt(
            "convert_classic_histograms_to_nhcb",
            s.convert_classic_histograms_to_nhcb,
        );
        if !s.scrape_protocols.is_empty() {
            cfg.put("scrape_protocols", strings(s.scrape_protocols));
        }
        let fallback = s
            .fallback_scrape_protocol
            .or(class.fallback_scrape_protocol.as_ref());
        cfg.put_opt("fallback_scrape_protocol", fallback.cloned());
        let own = s.body_size_limit.filter(|_| own_body_size_limit);
        self.body_size_limit(cfg, own);
    }

    /// `metric_relabel_configs`: the class's, then the object's with the enforced
    /// namespace label; absent when both are empty.
    pub(crate) fn metric_relabelings(
        &self,
        cfg: &mut Map,
        class: &ScrapeClass,
        kind: Kind,
        meta: &Meta,
        own: &[RelabelConfig],
    ) {
        let mut metric = class.metric_relabelings.clone();
        metric.extend(self.with_namespace_label(kind, &meta.namespace, &meta.name, own.to_vec()));
        if !metric.is_empty() {
            cfg.put(
                "metric_relabel_configs",
                Value::Sequence(relabelings(&metric)),
            );
        }
    }

    /// The enforced namespace label rule, unless the object is excluded
    /// (`namespacelabeler.GetRelabelingConfigs`).
    pub(crate) fn with_namespace_label(
        &self,
        kind: Kind,
        namespace: &str,
        name: &str,
        mut rcs: Vec<RelabelConfig>,
    ) -> Vec<RelabelConfig> {
        let label = &self.settings.enforced_namespace_label;
        if label.is_empty() {
            return rcs;
        }
        let excluded = self.settings.excluded_from_enforcement.iter().any(|r| {
            let group_ok = r
                .group
                .as_deref()
                .is_none_or(|g| g.is_empty() || g == "monitoring.coreos.com");
            group_ok
                && r.resource == kind.resource()
                && r.namespace == namespace
                && (r.name.is_empty() || r.name == name)
        });
        if !excluded {
            rcs.push(RelabelConfig {
                target_label: label.clone(),
                replacement: Some(namespace.to_string()),
                ..RelabelConfig::default()
            });
        }
        rcs
    }

    /// A Secret key's value; a missing optional key reads as empty.
    pub(crate) fn secret(&self, ns: &str, sel: &SecretKeySelector) -> Result<String, Reject> {
        match self.secrets.secret(ns, &sel.name, &sel.key) {
            Ok(v) => Ok(v),
            Err(_) if sel.optional == Some(true) => Ok(String::new()),
            Err(e) => Err(Reject::MissingSecret(e)),
        }
    }

    fn secret_or_config_map(&self, ns: &str, v: &SecretOrConfigMap) -> Result<String, Reject> {
        if let Some(sel) = &v.secret {
            return self.secret(ns, sel);
        }
        match &v.config_map {
            Some(sel) => match self.secrets.config_map(ns, &sel.name, &sel.key) {
                Ok(v) => Ok(v),
                Err(_) if sel.optional == Some(true) => Ok(String::new()),
                Err(e) => Err(Reject::MissingSecret(e)),
            },
            None => Ok(String::new()),
        }
    }

    /// `addBasicAuthToYaml`.
    pub(crate) fn basic_auth(
        &self,
        cfg: &mut Map,
        ns: &str,
        b: Option<&BasicAuth>,
    ) -> Result<(), Reject> {
        let Some(b) = b else { return Ok(()) };
        let mut m = Map::default();
        m.put("username", self.secret(ns, &b.username)?);
        m.put("password", self.secret(ns, &b.password)?);
        cfg.put("basic_auth", m);
        Ok(())
    }

    /// `addAuthorizationToYaml` (type defaults to `Bearer`).
    pub(crate) fn authorization(
        &self,
        cfg: &mut Map,
        ns: &str,
        a: Option<&Authorization>,
    ) -> Result<(), Reject> {
        let Some(a) = a else { return Ok(()) };
        let mut m = Map::default();
        let kind = if a.kind.is_empty() {
            "Bearer"
        } else {
            a.kind.trim()
        };
        m.put("type", kind);
        if let Some(c) = &a.credentials {
            m.put("credentials", self.secret(ns, c)?);
        }
        if !a.credentials_file.is_empty() {
            m.put("credentials_file", a.credentials_file.clone());
        }
        cfg.put("authorization", m);
        Ok(())
    }

    /// `addTLStoYaml` with the TLS material inlined (`WithInlineTLSConfig`): shoal holds
    /// it in memory instead of writing it under `/etc/prometheus/certs`.
    pub(crate) fn tls(&self, cfg: &mut Map, ns: &str, t: Option<&TlsConfig>) -> Result<(), Reject> {
        let Some(t) = t else { return Ok(()) };
        let mut m = Map::default();
        m.put_opt("insecure_skip_verify", t.insecure_skip_verify);
        if t.ca.is_set() {
            m.put("ca", self.secret_or_config_map(ns, &t.ca)?);
        }
        if t.cert.is_set() {
            m.put("cert", self.secret_or_config_map(ns, &t.cert)?);
        }
        if let Some(k) = &t.key_secret {
            m.put("key", self.secret(ns, k)?);
        }
        if let Some(sn) = t.server_name.as_ref().filter(|s| !s.is_empty()) {
            m.put("server_name", sn.clone());
        }
        m.put_opt("min_version", t.min_version.clone());
        m.put_opt("max_version", t.max_version.clone());
        if !t.ca_file.is_empty() {
            m.put("ca_file", t.ca_file.clone());
        }
        if !t.cert_file.is_empty() {
            m.put("cert_file", t.cert_file.clone());
        }
        if !t.key_file.is_empty() {
            m.put("key_file", t.key_file.clone());
        }
        cfg.put("tls_config", m);
        Ok(())
    }

    /// Proxy fields (`addProxyConfigtoYaml`, without CONNECT headers).
    pub(crate) fn proxy(
        cfg: &mut Map,
        url: Option<&String>,
        no_proxy: Option<&String>,
        from_env: Option<bool>,
    ) {
        cfg.put_opt("proxy_url", url.cloned());
        cfg.put_opt("no_proxy", no_proxy.cloned());
        cfg.put_opt("proxy_from_environment", from_env);
    }

    /// `generateK8SSDConfig`: one `kubernetes_sd_configs` entry reaching the API server as
    /// the `prometheus_operator` block does (the operator's `apiserverConfig`).
    pub(crate) fn k8s_sd(
        &self,
        role: &str,
        namespaces: Vec<String>,
        attach: Option<&AttachMetadata>,
        role_selectors: Option<(&[&str], &LabelSelector)>,
    ) -> Value {
        let mut m = Map::default();
        m.put("role", role);
        if !namespaces.is_empty() {
            let mut n = Map::default();
            n.put("names", strings(&namespaces));
            m.put("namespaces", n);
        }
        self.connection(&mut m);
        if let Some(a) = attach {
            let mut am = Map::default();
            am.put("node", a.node.unwrap_or(false));
            m.put("attach_metadata", am);
        }
        if let Some((roles, sel)) = role_selectors {
            let label = sel.to_selector_string();
            let list: Vec<Value> = roles
                .iter()
                .map(|r| rule(&[("role", s(*r)), ("label", s(label.clone()))]))
                .collect();
            m.put("selectors", Value::Sequence(list));
        }
        Value::Sequence(vec![m.into()])
    }

    /// The block's connection settings, written into a `kubernetes_sd_configs` entry.
    pub(crate) fn connection(&self, m: &mut Map) {
        let conn = &self.connection;
        if let Some(v) = conn.get("api_server") {
            m.put("api_server", v.clone());
        }
        for (k, v) in conn.iter() {
            if let Some(key) = k.as_str()
                && key != "api_server"
                && key != "role"
            {
                m.put(key, v.clone());
            }
        }
    }

    /// `getNamespacesFromNamespaceSelector`.
    pub(crate) fn target_namespaces(
        &self,
        any: bool,
        match_names: &[String],
        own: &str,
    ) -> Vec<String> {
        if self.settings.ignore_namespace_selectors {
            vec![own.to_string()]
        } else if any {
            Vec::new()
        } else if match_names.is_empty() {
            vec![own.to_string()]
        } else {
            match_names.to_vec()
        }
    }
}

/// A Kubernetes quantity (`"1.1"`, `1`, `"500m"`) as a float, for the bucket factor.
fn quantity(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(t) => match t.strip_suffix('m') {
            Some(milli) => milli.parse::<f64>().ok().map(|x| x / 1000.0),
            None => t.parse().ok(),
        },
        _ => None,
    }
}

/// `mergeTLSConfigWithScrapeClass`: the object's TLS settings, or the class's; the class's
/// files fill what the object leaves unset.
pub(crate) fn merge_tls(own: Option<&TlsConfig>, class: &ScrapeClass) -> Option<TlsConfig> {
    let Some(own) = own else {
        return class.tls_config.clone();
    };
    let Some(ct) = &class.tls_config else {
        return Some(own.clone());
    };
    let mut t = own.clone();
    if t.ca_file.is_empty() && !t.ca.is_set() {
        t.ca_file = ct.ca_file.clone();
    }
    if t.cert_file.is_empty() && !t.cert.is_set() {
        t.cert_file = ct.cert_file.clone();
    }
    if t.key_file.is_empty() && t.key_secret.is_none() {
        t.key_file = ct.key_file.clone();
    }
    Some(t)
}

/// `mergeAuthorizationWithScrapeClass`: the object's authorization, with the class's
/// credentials where it has none.
pub(crate) fn merge_authorization(
    own: Option<&Authorization>,
    class: &ScrapeClass,
) -> Option<Authorization> {
    let own = own.filter(|a| **a != Authorization::default());
    let Some(own) = own else {
        return class.authorization.clone();
    };
    let Some(ca) = &class.authorization else {
        return Some(own.clone());
    };
    let mut a = own.clone();
    if a.credentials.is_none() {
        a.credentials = ca.credentials.clone();
    }
    if a.credentials.is_none() && a.credentials_file.is_empty() {
        a.credentials_file = ca.credentials_file.clone();
    }
    Some(a)
}
