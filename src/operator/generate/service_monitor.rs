//! ServiceMonitor → one job per endpoint (`checkServiceMonitor`, then
//! `generateServiceMonitorConfig`), without the sharding rules.

use serde_yaml_ng::Value;

use super::common::{
    Map, copy_label, init_relabelings, merge_authorization, merge_tls, relabelings, rule,
    running_filter, s, sanitize, selector_relabelings, strings,
};
use super::{Context, Kind, Reject, check_relabel, endpoint_role, unsupported};
use crate::operator::objects::{Endpoint, Meta, ServiceMonitorSpec};

/// The checks the operator runs before generating (`checkServiceMonitor`).
fn check(ctx: &Context<'_>, spec: &ServiceMonitorSpec) -> Result<(), Reject> {
    spec.selector.validate().map_err(Reject::Invalid)?;
    check_mechanism(spec.selector_mechanism.as_deref())?;
    for (i, ep) in spec.endpoints.iter().enumerate() {
        check_endpoint(ctx, ep).map_err(|r| r.within(&format!("endpoints[{i}]")))?;
    }
    ctx.check_scrape_class(spec.scrape_class.as_ref())
        .map_err(|e| Reject::Invalid(format!("scrapeClassName: {e}")))
}

/// `RelabelSelector` (default) or `RoleSelector`.
pub(super) fn check_mechanism(m: Option<&str>) -> Result<(), Reject> {
    match m {
        None | Some("RelabelSelector") | Some("RoleSelector") => Ok(()),
        Some(other) => Err(Reject::Invalid(format!(
            "selectorMechanism: unsupported value {other:?} (RelabelSelector or RoleSelector)"
        ))),
    }
}

fn check_endpoint(ctx: &Context<'_>, ep: &Endpoint) -> Result<(), Reject> {
    let deny = ctx
        .settings
        .arbitrary_fs_access_through_sms
        .as_ref()
        .is_some_and(|a| a.deny);
    if deny {
        if !ep.bearer_token_file.is_empty() {
            return Err(Reject::DeniedFileAccess(
                "it accesses file system via bearer token file which Prometheus specification prohibits".into(),
            ));
        }
        if ep.tls_config.as_ref().is_some_and(|t| t.uses_files()) {
            return Err(Reject::DeniedFileAccess(
                "it accesses file system via tls config which Prometheus specification prohibits"
                    .into(),
            ));
        }
    }
    unsupported("oauth2", ep.oauth2.is_some())?;
    unsupported("proxyConnectHeader", ep.proxy_connect_header.is_some())?;
    super::check_interval_timeout(ctx.global, &ep.interval, &ep.scrape_timeout)?;
    check_relabel("relabelConfigs", &ep.relabelings)?;
    check_relabel("metricRelabelConfigs", &ep.metric_relabelings)
}

/// The jobs of one ServiceMonitor.
pub(super) fn generate(
    ctx: &Context<'_>,
    meta: &Meta,
    spec: &ServiceMonitorSpec,
) -> Result<Vec<Value>, Reject> {
    check(ctx, spec)?;
    spec.endpoints
        .iter()
        .enumerate()
        .map(|(i, ep)| {
            endpoint_job(ctx, meta, spec, ep, i).map_err(|r| r.within(&format!("endpoints[{i}]")))
        })
        .collect()
}

fn endpoint_job(
    ctx: &Context<'_>,
    meta: &Meta,
    spec: &ServiceMonitorSpec,
    ep: &Endpoint,
    i: usize,
) -> Result<Value, Reject> {
    let ns = meta.namespace.as_str();
    let class = ctx.scrape_class(spec.scrape_class.as_ref());
    let mut cfg = Map::default();
    cfg.put("job_name", format!("serviceMonitor/{ns}/{}/{i}", meta.name));
    ctx.honor_labels(&mut cfg, ep.honor_labels);
    ctx.honor_timestamps(&mut cfg, ep.honor_timestamps);
    cfg.put_opt("track_timestamps_staleness", ep.track_timestamps_staleness);

    let attach = spec
        .attach_metadata
        .as_ref()
        .or(class.attach_metadata.as_ref());
    let role = match &spec.service_discovery_role {
        Some(r) => endpoint_role(Some(r.as_str()).filter(|r| *r == "EndpointSlice")),
        None => ctx.default_role,
    };
    let by_role = spec.selector_mechanism.as_deref() == Some("RoleSelector");
    let namespaces = ctx.target_namespaces(
        spec.namespace_selector.any,
        &spec.namespace_selector.match_names,
        ns,
    );
    let roles = [role, "service"];
    cfg.put(
        "kubernetes_sd_configs",
        ctx.k8s_sd(
            role,
            namespaces,
            attach,
            by_role.then_some((&roles[..], &spec.selector)),
        ),
    );

    if !ep.interval.is_empty() {
        cfg.put("scrape_interval", ep.interval.clone());
    }
    if !ep.scrape_timeout.is_empty() {
        cfg.put("scrape_timeout", ep.scrape_timeout.clone());
    }
    if !ep.path.is_empty() {
        cfg.put("metrics_path", ep.path.clone());
    }
    if let Some(p) = &ep.params {
        cfg.put("params", params(p));
    }
    cfg.put_opt("scheme", ep.scheme.as_ref().map(|s| s.to_lowercase()));
    cfg.put_opt("follow_redirects", ep.follow_redirects);
    cfg.put_opt("enable_http2", ep.enable_http2);
    Context::proxy(
        &mut cfg,
        ep.proxy_url.as_ref(),
        ep.no_proxy.as_ref(),
        ep.proxy_from_environment,
    );
    ctx.tls(
        &mut cfg,
        ns,
        merge_tls(ep.tls_config.as_ref(), &class).as_ref(),
    )
    .map_err(|r| r.within("tlsConfig"))?;
    if !ep.bearer_token_file.is_empty() {
        cfg.put("bearer_token_file", ep.bearer_token_file.clone());
    }
    if let Some(b) = ep
        .bearer_token_secret
        .as_ref()
        .filter(|b| !b.name.is_empty())
    {
        let token = ctx
            .secret(ns, b)
            .map_err(|r| r.within("bearerTokenSecret"))?;
        cfg.put("bearer_token", token);
    }
    ctx.basic_auth(&mut cfg, ns, ep.basic_auth.as_ref())
        .map_err(|r| r.within("basicAuth"))?;
    ctx.authorization(
        &mut cfg,
        ns,
        merge_authorization(ep.authorization.as_ref(), &class).as_ref(),
    )
    .map_err(|r| r.within("authorization"))?;

    let mut rl = init_relabelings();
    if !by_role {
        rl.extend(selector_relabelings(&spec.selector, "service"));
    }
    let slice = role == "endpointslice";
    if !ep.port.is_empty() {
        let source = if slice {
            "__meta_kubernetes_endpointslice_port_name"
        } else {
            "__meta_kubernetes_endpoint_port_name"
        };
        rl.push(rule(&[
            ("action", s("keep")),
            ("source_labels", strings(&[source])),
            ("regex", s(ep.port.clone())),
        ]));
    } else if let Some(tp) = &ep.target_port {
        match tp {
            crate::operator::objects::IntOrString::Str(name) if !name.is_empty() => {
                rl.push(rule(&[
                    ("action", s("keep")),
                    (
                        "source_labels",
                        strings(&["__meta_kubernetes_pod_container_port_name"]),
                    ),
                    ("regex", s(name.clone())),
                ]));
            }
            crate::operator::objects::IntOrString::Int(n) if *n != 0 => {
                rl.push(rule(&[
                    ("action", s("keep")),
                    (
                        "source_labels",
                        strings(&["__meta_kubernetes_pod_container_port_number"]),
                    ),
                    ("regex", s(n.to_string())),
                ]));
            }
            _ => {}
        }
    }
    let target = if slice {
        [
            "__meta_kubernetes_endpointslice_address_target_kind",
            "__meta_kubernetes_endpointslice_address_target_name",
        ]
    } else {
        [
            "__meta_kubernetes_endpoint_address_target_kind",
            "__meta_kubernetes_endpoint_address_target_name",
        ]
    };
    for (regex, label) in [("Node;(.*)", "node"), ("Pod;(.*)", "pod")] {
        rl.push(rule(&[
            ("source_labels", strings(&target)),
            ("separator", s(";")),
            ("regex", s(regex)),
            ("replacement", s("${1}")),
            ("target_label", s(label)),
        ]));
    }
    for (source, target) in [
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_service_name", "service"),
        ("__meta_kubernetes_pod_name", "pod"),
        ("__meta_kubernetes_pod_container_name", "container"),
    ] {
        rl.push(rule(&[
            ("source_labels", strings(&[source])),
            ("target_label", s(target)),
        ]));
    }
    if ep.filter_running.unwrap_or(true) {
        rl.push(running_filter());
    }
    for l in &spec.target_labels {
        rl.push(copy_label("service", l));
    }
    for l in spec
        .pod_target_labels
        .iter()
        .chain(&ctx.settings.pod_target_labels)
    {
        rl.push(copy_label("pod", l));
    }
    rl.push(rule(&[
        (
            "source_labels",
            strings(&["__meta_kubernetes_service_name"]),
        ),
        ("target_label", s("job")),
        ("replacement", s("${1}")),
    ]));
    if !spec.job_label.is_empty() {
        rl.push(rule(&[
            (
                "source_labels",
                strings(&[format!(
                    "__meta_kubernetes_service_label_{}",
                    sanitize(&spec.job_label)
                )]),
            ),
            ("target_label", s("job")),
            ("regex", s("(.+)")),
            ("replacement", s("${1}")),
        ]));
    }
    let endpoint_label = if !ep.port.is_empty() {
        Some(ep.port.clone())
    } else {
        ep.target_port
            .as_ref()
            .map(|t| t.text())
            .filter(|t| !t.is_empty())
    };
    if let Some(e) = endpoint_label {
        rl.push(rule(&[
            ("target_label", s("endpoint")),
            ("replacement", s(e)),
        ]));
    }
    rl.extend(relabelings(&class.relabelings));
    let own =
        ctx.with_namespace_label(Kind::ServiceMonitor, ns, &meta.name, ep.relabelings.clone());
    rl.extend(relabelings(&own));
    cfg.put("relabel_configs", Value::Sequence(rl));

    ctx.scrape_settings(&mut cfg, spec.scrape_settings(), &class, true);
    ctx.metric_relabelings(
        &mut cfg,
        &class,
        Kind::ServiceMonitor,
        meta,
        &ep.metric_relabelings,
    );
    Ok(cfg.into())
}

/// `params` as a YAML map of lists.
pub(super) fn params(p: &std::collections::BTreeMap<String, Vec<String>>) -> Value {
    let mut m = Map::default();
    for (k, v) in p {
        m.put(k, strings(v));
    }
    m.into()
}
