//! The four kinds as the API server serves them (`monitoring.coreos.com`), with the fields
//! of the operator's v0.9x types that shoal acts on. A field the operator has but shoal
//! cannot honour is either a named `unsupported` one (rejected with its name) or unknown to
//! serde (rejected as an unknown field): an object is never half-applied.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use crate::config::LabelSelector;

/// `metadata` as far as generation needs it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Object namespace.
    #[serde(default)]
    pub namespace: String,
    /// Object labels (matched by the selectors).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `metadata.generation`, shown in the operator API.
    #[serde(default)]
    pub generation: Option<i64>,
}

/// A key of a Secret in the object's namespace.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKeySelector {
    /// Secret name.
    #[serde(default)]
    pub name: String,
    /// Key inside `data`.
    #[serde(default)]
    pub key: String,
    /// When true a missing Secret or key reads as empty instead of rejecting the object.
    #[serde(default)]
    pub optional: Option<bool>,
}

/// `secret` or `configMap` key (TLS CA and certificate).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretOrConfigMap {
    /// From a Secret.
    #[serde(default)]
    pub secret: Option<SecretKeySelector>,
    /// From a ConfigMap.
    #[serde(default)]
    pub config_map: Option<SecretKeySelector>,
}

impl SecretOrConfigMap {
    /// Whether either source is set.
    pub fn is_set(&self) -> bool {
        self.secret.is_some() || self.config_map.is_some()
    }
}

/// `tlsConfig` (SafeTLSConfig plus the `*File` fields of TLSConfig).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// CA certificate.
    #[serde(default)]
    pub ca: SecretOrConfigMap,
    /// Client certificate.
    #[serde(default)]
    pub cert: SecretOrConfigMap,
    /// Client key.
    #[serde(default)]
    pub key_secret: Option<SecretKeySelector>,
    /// Server name.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Skip verification.
    #[serde(default)]
    pub insecure_skip_verify: Option<bool>,
    /// Minimum TLS version.
    #[serde(default)]
    pub min_version: Option<String>,
    /// Maximum TLS version.
    #[serde(default)]
    pub max_version: Option<String>,
    /// CA file in the agent's file system.
    #[serde(default)]
    pub ca_file: String,
    /// Certificate file in the agent's file system.
    #[serde(default)]
    pub cert_file: String,
    /// Key file in the agent's file system.
    #[serde(default)]
    pub key_file: String,
}

impl TlsConfig {
    /// Whether it names files of the agent's file system.
    pub fn uses_files(&self) -> bool {
        !self.ca_file.is_empty() || !self.cert_file.is_empty() || !self.key_file.is_empty()
    }
}

/// `basicAuth`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name key.
    #[serde(default)]
    pub username: SecretKeySelector,
    /// Password key.
    #[serde(default)]
    pub password: SecretKeySelector,
}

/// `authorization`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Authorization {
    /// Scheme (default `Bearer`).
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Credentials key.
    #[serde(default)]
    pub credentials: Option<SecretKeySelector>,
    /// Credentials file (scrape classes only).
    #[serde(default)]
    pub credentials_file: String,
}

/// A relabeling as the CRDs write it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RelabelConfig {
    /// Source labels.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Separator.
    #[serde(default)]
    pub separator: Option<String>,
    /// Target label.
    #[serde(default)]
    pub target_label: String,
    /// Regex.
    #[serde(default)]
    pub regex: String,
    /// Modulus.
    #[serde(default)]
    pub modulus: u64,
    /// Replacement.
    #[serde(default)]
    pub replacement: Option<String>,
    /// Action (any case).
    #[serde(default)]
    pub action: String,
}

/// `namespaceSelector` of monitors.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// All namespaces.
    #[serde(default)]
    pub any: bool,
    /// These namespaces.
    #[serde(default)]
    pub match_names: Vec<String>,
}

/// `attachMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachMetadata {
    /// Attach node metadata.
    #[serde(default)]
    pub node: Option<bool>,
}

/// `targetPort`: a number or a name.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A port number.
    Int(i64),
    /// A port name.
    Str(String),
}

impl IntOrString {
    /// Go's `IntOrString.String()`.
    pub fn text(&self) -> String {
        match self {
            IntOrString::Int(i) => i.to_string(),
            IntOrString::Str(s) => s.clone(),
        }
    }
}

/// The HTTP client fields every kind inlines, and the limit fields of the monitor specs,
/// written out by this macro so that each struct can deny unknown fields.
macro_rules! object_struct {
    (
        $(#[$attr:meta])*
        pub struct $name:ident { $( $(#[$fattr:meta])* pub $field:ident : $fty:ty, )* }
    ) => {
        $(#[$attr])*
        #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        pub struct $name { $( $(#[$fattr])* #[serde(default)] pub $field: $fty, )* }
    };
}

object_struct! {
    /// A ServiceMonitor `endpoints` item.
    pub struct Endpoint {
        /// Service port name.
        pub port: String,
        /// Pod port number or name.
        pub target_port: Option<IntOrString>,
        /// Metrics path.
        pub path: String,
        /// `http` or `https`.
        pub scheme: Option<String>,
        /// Query parameters.
        pub params: Option<BTreeMap<String, Vec<String>>>,
        /// Scrape interval.
        pub interval: String,
        /// Scrape timeout.
        pub scrape_timeout: String,
        /// Keep the target's labels on clash.
        pub honor_labels: bool,
        /// Keep exposed timestamps.
        pub honor_timestamps: Option<bool>,
        /// Accepted by Prometheus; shoal aligns to its slot grid.
        pub track_timestamps_staleness: Option<bool>,
        /// Series relabelings.
        pub metric_relabelings: Vec<RelabelConfig>,
        /// Target relabelings.
        pub relabelings: Vec<RelabelConfig>,
        /// Drop targets of finished pods (default true).
        pub filter_running: Option<bool>,
        /// Bearer token file (deprecated).
        pub bearer_token_file: String,
        /// Bearer token Secret (deprecated).
        pub bearer_token_secret: Option<SecretKeySelector>,
        /// Authorization header.
        pub authorization: Option<Authorization>,
        /// Basic authentication.
        pub basic_auth: Option<BasicAuth>,
        /// OAuth2 (not supported by shoal).
        pub oauth2: Option<serde_json::Value>,
        /// Follow redirects.
        pub follow_redirects: Option<bool>,
        /// Allow HTTP/2.
        pub enable_http2: Option<bool>,
        /// TLS settings.
        pub tls_config: Option<TlsConfig>,
        /// Proxy URL.
        pub proxy_url: Option<String>,
        /// Hosts not proxied.
        pub no_proxy: Option<String>,
        /// Proxy from the environment.
        pub proxy_from_environment: Option<bool>,
        /// Proxy CONNECT headers (not supported by shoal).
        pub proxy_connect_header: Option<serde_json::Value>,
    }
}

object_struct! {
    /// A PodMonitor `podMetricsEndpoints` item.
    pub struct PodMetricsEndpoint {
        /// Container port name.
        pub port: Option<String>,
        /// Container port number.
        pub port_number: Option<i64>,
        /// Container port number or name (deprecated).
        pub target_port: Option<IntOrString>,
        /// Metrics path.
        pub path: String,
        /// `http` or `https`.
        pub scheme: Option<String>,
        /// Query parameters.
        pub params: Option<BTreeMap<String, Vec<String>>>,
        /// Scrape interval.
        pub interval: String,
        /// Scrape timeout.
        pub scrape_timeout: String,
        /// Keep the target's labels on clash.
        pub honor_labels: bool,
        /// Keep exposed timestamps.
        pub honor_timestamps: Option<bool>,
        /// Accepted by Prometheus; shoal aligns to its slot grid.
        pub track_timestamps_staleness: Option<bool>,
        /// Series relabelings.
        pub metric_relabelings: Vec<RelabelConfig>,
        /// Target relabelings.
        pub relabelings: Vec<RelabelConfig>,
        /// Drop targets of finished pods (default true).
        pub filter_running: Option<bool>,
        /// Bearer token Secret (deprecated).
        pub bearer_token_secret: Option<SecretKeySelector>,
        /// Authorization header.
        pub authorization: Option<Authorization>,
        /// Basic authentication.
        pub basic_auth: Option<BasicAuth>,
        /// OAuth2 (not supported by shoal).
        pub oauth2: Option<serde_json::Value>,
        /// Follow redirects.
        pub follow_redirects: Option<bool>,
        /// Allow HTTP/2.
        pub enable_http2: Option<bool>,
        /// TLS settings.
        pub tls_config: Option<TlsConfig>,
        /// Proxy URL.
        pub proxy_url: Option<String>,
        /// Hosts not proxied.
        pub no_proxy: Option<String>,
        /// Proxy from the environment.
        pub proxy_from_environment: Option<bool>,
        /// Proxy CONNECT headers (not supported by shoal).
        pub proxy_connect_header: Option<serde_json::Value>,
    }
}

/// Limits and protocol fields shared by the specs (`sampleLimit`, ...).
macro_rules! monitor_spec {
    (
        $(#[$attr:meta])*
        pub struct $name:ident { $( $(#[$fattr:meta])* pub $field:ident : $fty:ty, )* }
    ) => {
        object_struct! {
            $(#[$attr])*
            pub struct $name {
                $( $(#[$fattr])* pub $field: $fty, )*
                /// Sample limit.
                pub sample_limit: Option<u64>,
                /// Target limit.
                pub target_limit: Option<u64>,
                /// Label limit.
                pub label_limit: Option<u64>,
                /// Label name length limit.
                pub label_name_length_limit: Option<u64>,
                /// Label value length limit.
                pub label_value_length_limit: Option<u64>,
                /// Dropped targets kept for the API.
                pub keep_dropped_targets: Option<u64>,
                /// Body size limit (e.g. `10MiB`).
                pub body_size_limit: Option<String>,
                /// Accept-header preference.
                pub scrape_protocols: Vec<String>,
                /// Protocol for a missing or unknown Content-Type.
                pub fallback_scrape_protocol: Option<String>,
                /// Scrape class name.
                pub scrape_class: Option<String>,
                /// Native histograms (accepted; shoal scrapes classic ones).
                pub scrape_native_histograms: Option<bool>,
                /// Keep classic histograms.
                pub scrape_classic_histograms: Option<bool>,
                /// Native histogram bucket limit.
                pub native_histogram_bucket_limit: Option<u64>,
                /// Native histogram bucket factor.
                pub native_histogram_min_bucket_factor: Option<serde_json::Value>,
                /// Convert classic histograms to NHCB (accepted, ignored with a warning).
                pub convert_classic_histograms_to_nhcb: Option<bool>,
            }
        }

        impl $name {
            /// The limit and protocol fields every kind shares.
            pub fn scrape_settings(&self) -> ScrapeSettings<'_> {
                ScrapeSettings {
                    sample_limit: self.sample_limit,
                    target_limit: self.target_limit,
                    label_limit: self.label_limit,
                    label_name_length_limit: self.label_name_length_limit,
                    label_value_length_limit: self.label_value_length_limit,
                    keep_dropped_targets: self.keep_dropped_targets,
                    body_size_limit: self.body_size_limit.as_ref(),
                    scrape_protocols: &self.scrape_protocols,
                    fallback_scrape_protocol: self.fallback_scrape_protocol.as_ref(),
                    scrape_native_histograms: self.scrape_native_histograms,
                    scrape_classic_histograms: self.scrape_classic_histograms,
                    native_histogram_bucket_limit: self.native_histogram_bucket_limit,
                    native_histogram_min_bucket_factor: self
                        .native_histogram_min_bucket_factor
                        .as_ref(),
                    convert_classic_histograms_to_nhcb: self.convert_classic_histograms_to_nhcb,
                }
            }
        }
    };
}

/// The limit, protocol and histogram fields of a spec, read by the generator in one place.
#[derive(Clone, Copy, Debug)]
pub struct ScrapeSettings<'a> {
    /// `sampleLimit`.
    pub sample_limit: Option<u64>,
    /// `targetLimit`.
    pub target_limit: Option<u64>,
    /// `labelLimit`.
    pub label_limit: Option<u64>,
    /// `labelNameLengthLimit`.
    pub label_name_length_limit: Option<u64>,
    /// `labelValueLengthLimit`.
    pub label_value_length_limit: Option<u64>,
    /// `keepDroppedTargets`.
    pub keep_dropped_targets: Option<u64>,
    /// `bodySizeLimit`.
    pub body_size_limit: Option<&'a String>,
    /// `scrapeProtocols`.
    pub scrape_protocols: &'a [String],
    /// `fallbackScrapeProtocol`.
    pub fallback_scrape_protocol: Option<&'a String>,
    /// `scrapeNativeHistograms`.
    pub scrape_native_histograms: Option<bool>,
    /// `scrapeClassicHistograms`.
    pub scrape_classic_histograms: Option<bool>,
    /// `nativeHistogramBucketLimit`.
    pub native_histogram_bucket_limit: Option<u64>,
    /// `nativeHistogramMinBucketFactor`.
    pub native_histogram_min_bucket_factor: Option<&'a serde_json::Value>,
    /// `convertClassicHistogramsToNHCB`.
    pub convert_classic_histograms_to_nhcb: Option<bool>,
}

monitor_spec! {
    /// `ServiceMonitor.spec`.
    pub struct ServiceMonitorSpec {
        /// Service label whose value becomes `job`.
        pub job_label: String,
        /// Service labels copied onto targets.
        pub target_labels: Vec<String>,
        /// Pod labels copied onto targets.
        pub pod_target_labels: Vec<String>,
        /// Endpoints to scrape.
        pub endpoints: Vec<Endpoint>,
        /// Services to select.
        pub selector: LabelSelector,
        /// `RelabelSelector` (default) or `RoleSelector`.
        pub selector_mechanism: Option<String>,
        /// Namespaces of the services.
        pub namespace_selector: NamespaceSelector,
        /// Attach node metadata.
        pub attach_metadata: Option<AttachMetadata>,
        /// `Endpoints` or `EndpointSlice`.
        pub service_discovery_role: Option<String>,
    }
}

monitor_spec! {
    /// `PodMonitor.spec`.
    pub struct PodMonitorSpec {
        /// Pod label whose value becomes `job`.
        pub job_label: String,
        /// Pod labels copied onto targets.
        pub pod_target_labels: Vec<String>,
        /// Endpoints to scrape.
        pub pod_metrics_endpoints: Vec<PodMetricsEndpoint>,
        /// Pods to select.
        pub selector: LabelSelector,
        /// `RelabelSelector` (default) or `RoleSelector`.
        pub selector_mechanism: Option<String>,
        /// Namespaces of the pods.
        pub namespace_selector: NamespaceSelector,
        /// Attach node metadata.
        pub attach_metadata: Option<AttachMetadata>,
    }
}

object_struct! {
    /// `Probe.spec.prober`.
    pub struct ProberSpec {
        /// `host[:port]` of the prober.
        pub url: String,
        /// `http` or `https`.
        pub scheme: Option<String>,
        /// Path (default `/probe`).
        pub path: Option<String>,
        /// Proxy URL.
        pub proxy_url: Option<String>,
        /// Hosts not proxied.
        pub no_proxy: Option<String>,
        /// Proxy from the environment.
        pub proxy_from_environment: Option<bool>,
        /// Proxy CONNECT headers (not supported by shoal).
        pub proxy_connect_header: Option<serde_json::Value>,
    }
}

object_struct! {
    /// `Probe.spec.targets.staticConfig`.
    pub struct ProbeStatic {
        /// Probed targets.
        #[serde(rename = "static")]
        pub targets: Vec<String>,
        /// Labels of every target.
        pub labels: Option<BTreeMap<String, String>>,
        /// Relabelings.
        pub relabeling_configs: Vec<RelabelConfig>,
    }
}

object_struct! {
    /// `Probe.spec.targets.ingress`.
    pub struct ProbeIngress {
        /// Ingresses to select.
        pub selector: LabelSelector,
        /// Namespaces of the ingresses.
        pub namespace_selector: NamespaceSelector,
        /// Relabelings.
        pub relabeling_configs: Vec<RelabelConfig>,
    }
}

object_struct! {
    /// `Probe.spec.targets`.
    pub struct ProbeTargets {
        /// Static targets (wins over `ingress`).
        pub static_config: Option<ProbeStatic>,
        /// Ingress targets.
        pub ingress: Option<ProbeIngress>,
    }
}

object_struct! {
    /// `Probe.spec.params` item.
    pub struct ProbeParam {
        /// Parameter name.
        pub name: String,
        /// Values.
        pub values: Vec<String>,
    }
}

monitor_spec! {
    /// `Probe.spec`.
    pub struct ProbeSpec {
        /// `job` label value.
        pub job_name: String,
        /// The prober.
        pub prober: ProberSpec,
        /// Prober module.
        pub module: String,
        /// What to probe.
        pub targets: ProbeTargets,
        /// Scrape interval.
        pub interval: String,
        /// Scrape timeout.
        pub scrape_timeout: String,
        /// Series relabelings.
        pub metric_relabelings: Vec<RelabelConfig>,
        /// Extra query parameters.
        pub params: Vec<ProbeParam>,
        /// Bearer token Secret (deprecated).
        pub bearer_token_secret: Option<SecretKeySelector>,
        /// Authorization header.
        pub authorization: Option<Authorization>,
        /// Basic authentication.
        pub basic_auth: Option<BasicAuth>,
        /// OAuth2 (not supported by shoal).
        pub oauth2: Option<serde_json::Value>,
        /// Follow redirects.
        pub follow_redirects: Option<bool>,
        /// Allow HTTP/2.
        pub enable_http2: Option<bool>,
        /// TLS settings.
        pub tls_config: Option<TlsConfig>,
    }
}

object_struct! {
    /// `ScrapeConfig.spec.staticConfigs` item.
    pub struct StaticConfig {
        /// Targets.
        pub targets: Vec<String>,
        /// Labels.
        pub labels: Option<BTreeMap<String, String>>,
    }
}

object_struct! {
    /// `ScrapeConfig.spec.fileSDConfigs` item.
    pub struct FileSdConfig {
        /// File globs.
        pub files: Vec<String>,
        /// Refresh interval.
        pub refresh_interval: Option<String>,
    }
}

object_struct! {
    /// `ScrapeConfig.spec.httpSDConfigs` item.
    pub struct HttpSdConfig {
        /// URL.
        pub url: String,
        /// Refresh interval.
        pub refresh_interval: Option<String>,
        /// Basic authentication.
        pub basic_auth: Option<BasicAuth>,
        /// Authorization header.
        pub authorization: Option<Authorization>,
        /// OAuth2 (not supported by shoal).
        pub oauth2: Option<serde_json::Value>,
        /// TLS settings.
        pub tls_config: Option<TlsConfig>,
        /// Follow redirects.
        pub follow_redirects: Option<bool>,
        /// Allow HTTP/2.
        #[serde(rename = "enableHTTP2")]
        pub enable_http2: Option<bool>,
        /// Proxy URL.
        pub proxy_url: Option<String>,
        /// Hosts not proxied.
        pub no_proxy: Option<String>,
        /// Proxy from the environment.
        pub proxy_from_environment: Option<bool>,
        /// Proxy CONNECT headers (not supported by shoal).
        pub proxy_connect_header: Option<serde_json::Value>,
    }
}

object_struct! {
    /// `namespaces` of a ScrapeConfig's Kubernetes SD.
    pub struct NamespaceDiscovery {
        /// Include the agent's own namespace.
        pub own_namespace: Option<bool>,
        /// Namespaces.
        pub names: Vec<String>,
    }
}

object_struct! {
    /// `selectors` item of a ScrapeConfig's Kubernetes SD.
    pub struct K8sSelector {
        /// Role.
        pub role: String,
        /// Label selector.
        pub label: Option<String>,
        /// Field selector.
        pub field: Option<String>,
    }
}

object_struct! {
    /// `ScrapeConfig.spec.kubernetesSDConfigs` item.
    pub struct KubernetesSdConfig {
        /// API server URL.
        pub api_server: Option<String>,
        /// Role.
        pub role: String,
        /// Namespaces.
        pub namespaces: Option<NamespaceDiscovery>,
        /// Attach metadata.
        pub attach_metadata: Option<AttachMetadata>,
        /// Selectors.
        pub selectors: Vec<K8sSelector>,
        /// Basic authentication.
        pub basic_auth: Option<BasicAuth>,
        /// Authorization header.
        pub authorization: Option<Authorization>,
        /// OAuth2 (not supported by shoal).
        pub oauth2: Option<serde_json::Value>,
        /// TLS settings.
        pub tls_config: Option<TlsConfig>,
        /// Follow redirects.
        pub follow_redirects: Option<bool>,
        /// Allow HTTP/2.
        #[serde(rename = "enableHTTP2")]
        pub enable_http2: Option<bool>,
        /// Proxy URL.
        pub proxy_url: Option<String>,
        /// Hosts not proxied.
        pub no_proxy: Option<String>,
        /// Proxy from the environment.
        pub proxy_from_environment: Option<bool>,
        /// Proxy CONNECT headers (not supported by shoal).
        pub proxy_connect_header: Option<serde_json::Value>,
    }
}

monitor_spec! {
    /// `ScrapeConfig.spec` (v1alpha1), with the discovery mechanisms shoal has.
    pub struct ScrapeConfigSpec {
        /// `job` label value.
        pub job_name: Option<String>,
        /// Static targets.
        pub static_configs: Vec<StaticConfig>,
        /// File discovery.
        #[serde(rename = "fileSDConfigs")]
        pub file_sd_configs: Vec<FileSdConfig>,
        /// HTTP discovery.
        #[serde(rename = "httpSDConfigs")]
        pub http_sd_configs: Vec<HttpSdConfig>,
        /// Kubernetes discovery.
        #[serde(rename = "kubernetesSDConfigs")]
        pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
        /// Target relabelings.
        pub relabelings: Vec<RelabelConfig>,
        /// Metrics path.
        pub metrics_path: Option<String>,
        /// Scrape interval.
        pub scrape_interval: Option<String>,
        /// Scrape timeout.
        pub scrape_timeout: Option<String>,
        /// Keep exposed timestamps.
        pub honor_timestamps: Option<bool>,
        /// Accepted by Prometheus; shoal aligns to its slot grid.
        pub track_timestamps_staleness: Option<bool>,
        /// Keep the target's labels on clash.
        pub honor_labels: Option<bool>,
        /// Query parameters.
        pub params: BTreeMap<String, Vec<String>>,
        /// `http` or `https`.
        pub scheme: Option<String>,
        /// Request compressed responses.
        pub enable_compression: Option<bool>,
        /// Allow HTTP/2.
        #[serde(rename = "enableHTTP2")]
        pub enable_http2: Option<bool>,
        /// Basic authentication.
        pub basic_auth: Option<BasicAuth>,
        /// Authorization header.
        pub authorization: Option<Authorization>,
        /// OAuth2 (not supported by shoal).
        pub oauth2: Option<serde_json::Value>,
        /// TLS settings.
        pub tls_config: Option<TlsConfig>,
        /// Series relabelings.
        pub metric_relabelings: Vec<RelabelConfig>,
        /// Proxy URL.
        pub proxy_url: Option<String>,
        /// Hosts not proxied.
        pub no_proxy: Option<String>,
        /// Proxy from the environment.
        pub proxy_from_environment: Option<bool>,
        /// Proxy CONNECT headers (not supported by shoal).
        pub proxy_connect_header: Option<serde_json::Value>,
        /// Metric name validation scheme.
        pub name_validation_scheme: Option<String>,
        /// Metric name escaping scheme.
        pub name_escaping_scheme: Option<String>,
    }
}

/// A scrape class (`spec.scrapeClasses` item).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScrapeClass {
    /// Name objects refer to.
    pub name: String,
    /// The class of objects that name none.
    #[serde(default)]
    pub default: Option<bool>,
    /// Protocol for a missing or unknown Content-Type.
    #[serde(default)]
    pub fallback_scrape_protocol: Option<String>,
    /// TLS settings merged into the object's.
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    /// Authorization used when the object has none.
    #[serde(default)]
    pub authorization: Option<Authorization>,
    /// Relabelings put before the object's own.
    #[serde(default)]
    pub relabelings: Vec<RelabelConfig>,
    /// Series relabelings put before the object's own.
    #[serde(default)]
    pub metric_relabelings: Vec<RelabelConfig>,
    /// Attach metadata used when the object sets none.
    #[serde(default)]
    pub attach_metadata: Option<AttachMetadata>,
}
