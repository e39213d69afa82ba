//! `kubernetes_sd_configs`: Prometheus' fields, its validation messages, and shoal's one
//! addition (`${VAR}` in selectors, expanded at load).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::http::with_http_client;
use super::validate::{Check, Issue, Seg};

/// What a Kubernetes discovery config watches, and so what its targets are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesRole {
    /// One target per container port (or per portless container) of each pod.
    Pod,
    /// One target per port of each service.
    Service,
    /// One target per address and port of each Endpoints object.
    Endpoints,
    /// One target per address and port of each EndpointSlice.
    #[serde(rename = "endpointslice")]
    EndpointSlice,
    /// One target per node, on the kubelet port.
    Node,
    /// One target per host and path of each ingress rule.
    Ingress,
}

impl KubernetesRole {
    /// The name used in configs and labels (`endpointslice`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            KubernetesRole::Pod => "pod",
            KubernetesRole::Service => "service",
            KubernetesRole::Endpoints => "endpoints",
            KubernetesRole::EndpointSlice => "endpointslice",
            KubernetesRole::Node => "node",
            KubernetesRole::Ingress => "ingress",
        }
    }

    /// Parses a role name as Prometheus does (exact, lowercase).
    pub fn parse(s: &str) -> Option<KubernetesRole> {
        Some(match s {
            "pod" => KubernetesRole::Pod,
            "service" => KubernetesRole::Service,
            "endpoints" => KubernetesRole::Endpoints,
            "endpointslice" => KubernetesRole::EndpointSlice,
            "node" => KubernetesRole::Node,
            "ingress" => KubernetesRole::Ingress,
            _ => return None,
        })
    }

    /// Roles whose selectors a config of this role accepts (Prometheus' `allowedSelectors`).
    pub fn allowed_selectors(self) -> &'static [KubernetesRole] {
        use KubernetesRole::*;
        match self {
            // Node selectors filter the node watch of `attach_metadata.node` (3.11+).
            Pod => &[Pod, Node],
            Service => &[Service],
            EndpointSlice => &[Pod, Service, EndpointSlice],
            Endpoints => &[Pod, Service, Endpoints],
            Node => &[Node],
            Ingress => &[Ingress],
        }
    }
}

impl fmt::Display for KubernetesRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for KubernetesRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KubernetesRole::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown Kubernetes SD role {s:?}")))
    }
}

/// `namespaces`: which namespaces to watch (all when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesNamespaces {
    /// Also watch the namespace shoal runs in (read from the service account mount).
    #[serde(default)]
    pub own_namespace: bool,
    /// Namespaces to watch.
    #[serde(default)]
    pub names: Vec<String>,
}

/// One `selectors` entry: label and field selectors sent to the API server for `role`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSelector {
    /// The kind of object the selectors apply to.
    #[serde(default)]
    pub role: Option<KubernetesRole>,
    /// Label selector (`app=x,tier!=db`); `${VAR}` is expanded at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Field selector (`spec.nodeName=${NODE_NAME}`); `${VAR}` is expanded at load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `attach_metadata`: extra labels from related objects. Every key is accepted for every
/// role, as Prometheus does; a role with no use for one ignores it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesAttachMetadata {
    /// Attach the node's name, labels and annotations (roles pod, endpoints, endpointslice;
    /// watches nodes).
    #[serde(default)]
    pub node: bool,
    /// Attach the namespace's labels and annotations (every role but node; watches
    /// namespaces, all of them).
    #[serde(default)]
    pub namespace: bool,
    /// Attach `pod_deployment_name` (roles pod, endpoints, endpointslice; watches
    /// ReplicaSets).
    #[serde(default)]
    pub deployment: bool,
    /// Attach `pod_job_name` (roles pod, endpoints, endpointslice; from the pod itself).
    #[serde(default)]
    pub job: bool,
    /// Attach `pod_cronjob_name` (roles pod, endpoints, endpointslice; watches Jobs).
    #[serde(default)]
    pub cronjob: bool,
}

with_http_client! {
    /// `kubernetes_sd_configs` entry.
    pub struct KubernetesSdConfig via RawKubernetesSdConfig = "RawKubernetesSdConfig" {
        /// What to discover (required).
        #[serde(default)]
        pub role: Option<KubernetesRole>,
        /// API server URL; without it (and without `kubeconfig_file`) the in-cluster
        /// service account is used.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "crate::config::values::serialize_opt_url"
        )]
        pub api_server: Option<String>,
        /// A kubeconfig file to use instead (outside a cluster).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kubeconfig_file: Option<String>,
        /// Namespaces to watch (default: all).
        #[serde(default)]
        pub namespaces: KubernetesNamespaces,
        /// Label and field selectors per watched kind.
        #[serde(default)]
        pub selectors: Vec<KubernetesSelector>,
        /// Metadata of related objects to attach.
        #[serde(default)]
        pub attach_metadata: KubernetesAttachMetadata,
    }
    unsupported { oauth2, http_headers, proxy_connect_header }
}

impl KubernetesSdConfig {
    /// The label and field selector configured for objects of `role` (empty when none).
    pub fn selector_for(&self, role: KubernetesRole) -> (&str, &str) {
        self.selectors
            .iter()
            .find(|s| s.role == Some(role))
            .map_or(("", ""), |s| {
                (
                    s.label.as_deref().unwrap_or(""),
                    s.field.as_deref().unwrap_or(""),
                )
            })
    }
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// Prometheus' `SDConfig.UnmarshalYAML` checks, in its order and with its messages. Paths are
/// relative to the entry. Runs before defaults are filled, so an HTTP setting that is
/// `Some` was written by the user.
pub(crate) fn check_kubernetes(c: &KubernetesSdConfig) -> Check {
    let Some(role) = c.role else {
        return Err(Issue::at(
            &["role"],
            "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
        ));
    };
    super::validate::check_http(&c.http)?;
    let api_server = super::validate::set(&c.api_server);
    let kubeconfig = super::validate::set(&c.kubeconfig_file);
    if let Some(url) = c.api_server.as_deref().filter(|u| !u.is_empty()) {
        super::validate::check_http_url(url, "api_server")
            .map_err(|m| Issue::at(&["api_server"], m))?;
    }
    let custom_http = custom_http(&c.http);
    if api_server && kubeconfig {
        return Err(Issue::at(
            &["kubeconfig_file"],
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ));
    }
    if kubeconfig && custom_http {
        return Err(Issue::at(
            &["kubeconfig_file"],
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        ));
    }
    if !api_server && custom_http {
        return Err(Issue::at(
            &[],
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        ));
    }
    if api_server && c.namespaces.own_namespace {
        return Err(Issue::at(
            &["namespaces", "own_namespace"],
            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        ));
    }
    if kubeconfig && c.namespaces.own_namespace {
        return Err(Issue::at(
            &["namespaces", "own_namespace"],
            "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously",
        ));
    }
    let mut seen: Vec<Option<KubernetesRole>> = Vec::new();
    for (i, s) in c.selectors.iter().enumerate() {
        let at = |k: &str| vec![key("selectors"), Seg::Index(i), key(k)];
        let shown = s.role.map_or("", KubernetesRole::as_str);
        if seen.contains(&s.role) {
            return Err(Issue {
                path: at("role"),
                message: format!("duplicated selector role: {shown}"),
            });
        }
        seen.push(s.role);
        let allowed = role.allowed_selectors();
        if !s.role.is_some_and(|r| allowed.contains(&r)) {
            let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
            return Err(Issue {
                path: at("role"),
                message: format!("{role} role supports only {} selectors", names.join(", ")),
            });
        }
        if let Some(f) = &s.field {
            check_field_selector(f).map_err(|message| Issue {
                path: at("field"),
                message,
            })?;
        }
        if let Some(l) = &s.label {
            check_label_selector(l).map_err(|message| Issue {
                path: at("label"),
                message,
            })?;
        }
    }
    Ok(())
}

/// Whether any HTTP client setting differs from Prometheus' `DefaultHTTPClientConfig`.
fn custom_http(h: &super::HttpClientConfig) -> bool {
    h.basic_auth.is_some()
        || h.authorization.is_some()
        || h.bearer_token.is_some()
        || super::validate::set(&h.bearer_token_file)
        || h.tls_config
            .as_ref()
            .is_some_and(|t| *t != super::TlsConfig::default())
        || h.follow_redirects == Some(false)
        || h.enable_http2 == Some(false)
        || super::validate::set(&h.proxy_url)
        || super::validate::set(&h.no_proxy)
        || h.proxy_from_environment == Some(true)
}

/// The shape Kubernetes' `fields.ParseSelector` accepts: comma-separated `key=value`,
/// `key==value` or `key!=value` terms with a non-empty key.
fn check_field_selector(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Ok(());
    }
    for term in s.split(',') {
        let op = ["!=", "==", "="].iter().find_map(|op| term.find(op));
        match op {
            Some(i) if !term[..i].trim().is_empty() => {}
            _ => {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                ));
            }
        }
    }
    Ok(())
}

/// A light version of Kubernetes' `labels.Parse`: every comma-separated term (outside
/// `in (...)` lists) must be `key`, `!key`, `key=v`, `key==v`, `key!=v` or `key in/notin (..)`.
fn check_label_selector(s: &str) -> Result<(), String> {
    let mut depth = 0i32;
    let mut term = String::new();
    let mut terms = Vec::new();
    for ch in s.chars() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut term));
                continue;
            }
            _ => {}
        }
        term.push(ch);
    }
    if depth != 0 {
        return Err(format!(
            "unable to parse requirement: unbalanced parentheses in {s:?}"
        ));
    }
    terms.push(term);
    if terms.len() == 1 && terms.first().is_some_and(|t| t.trim().is_empty()) {
        return Ok(());
    }
    for t in terms {
        let t = t.trim();
        let t = t.strip_prefix('!').unwrap_or(t).trim_start();
        let key_end = t.find(['=', '!', ' ', '(']).unwrap_or(t.len());
        let key = &t[..key_end];
        let key_ok = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if !key_ok {
            return Err(format!(
                "unable to parse requirement: invalid label key {key:?}"
            ));
        }
    }
    Ok(())
}

/// Expands `${VAR}` in `s` from `env`; any other `$` stays as written. An unset or empty
/// variable is an error naming it.
pub(crate) fn expand_braced(
    s: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[i..]);
            return Ok(out);
        };
        let name = &after[..end];
        match env(name).filter(|v| !v.is_empty()) {
            Some(v) => out.push_str(&v),
            None => {
                return Err(format!(
                    "environment variable {name:?} used in a selector is empty or unset"
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Expands `${VAR}` in every selector of `c`; the error names the offending key.
pub(crate) fn expand_selectors(
    c: &mut KubernetesSdConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Check {
    for (i, s) in c.selectors.iter_mut().enumerate() {
        for (name, value) in [("label", &mut s.label), ("field", &mut s.field)] {
            if let Some(v) = value {
                *v = expand_braced(v, env).map_err(|message| Issue {
                    path: vec![key("selectors"), Seg::Index(i), key(name)],
                    message,
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braced_expansion() {
        let env = |n: &str| (n == "NODE").then(|| "n1".to_string());
        let cases = [
            ("spec.nodeName=${NODE}", Ok("spec.nodeName=n1".to_string())),
            ("a=$NODE", Ok("a=$NODE".to_string())),
            ("a=${NODE},b=${NODE}", Ok("a=n1,b=n1".to_string())),
            ("a=${NOPE}", Err(())),
            ("a=${unterminated", Ok("a=${unterminated".to_string())),
        ];
        for (input, want) in cases {
            let got = expand_braced(input, &env).map_err(|_| ());
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn selectors_syntax() {
        for ok in ["", "a=b", "a==b,c!=d", "spec.nodeName=x"] {
            assert!(check_field_selector(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "=b", "a=b,"] {
            assert!(check_field_selector(bad).is_err(), "{bad}");
        }
        for ok in [
            "",
            "app",
            "!app",
            "app=x",
            "app in (a,b),tier notin (c)",
            "k8s.io/x!=y",
        ] {
            assert!(check_label_selector(ok).is_ok(), "{ok}");
        }
        for bad in ["app in (a", "=x", "a$=c", "!"] {
            assert!(check_label_selector(bad).is_err(), "{bad}");
        }
    }
}
