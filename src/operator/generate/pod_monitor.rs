//! PodMonitor → one job per endpoint (`checkPodMonitor`, then `generatePodMonitorConfig`),
//! without the sharding rules.

use serde_yaml_ng::Value;

use super::common::{
    Map, copy_label, init_relabelings, merge_authorization, merge_tls, relabelings, rule,
    running_filter, s, sanitize, selector_relabelings, strings,
};
use super::service_monitor::{check_mechanism, params};
use super::{Context, Kind, Reject, check_relabel, unsupported};
use crate::operator::objects::{IntOrString, Meta, PodMetricsEndpoint, PodMonitorSpec};

fn check(ctx: &Context<'_>, spec: &PodMonitorSpec) -> Result<(), Reject> {
    spec.selector
        .validate()
        .map_err(|e| Reject::Invalid(format!("failed to parse label selector: {e}")))?;
    check_mechanism(spec.selector_mechanism.as_deref())?;
    for (i, ep) in spec.pod_metrics_endpoints.iter().enumerate() {
        let at = format!("endpoint[{i}]");
        unsupported("oauth2", ep.oauth2.is_some()).map_err(|r| r.within(&at))?;
        unsupported("proxyConnectHeader", ep.proxy_connect_header.is_some())
            .map_err(|r| r.within(&at))?;
        super::check_interval_timeout(ctx.global, &ep.interval, &ep.scrape_timeout)
            .map_err(|r| r.within(&at))?;
        check_relabel("relabelConfigs", &ep.relabelings).map_err(|r| r.within(&at))?;
        check_relabel("metricRelabelConfigs", &ep.metric_relabelings).map_err(|r| r.within(&at))?;
    }
    ctx.check_scrape_class(spec.scrape_class.as_ref())
        .map_err(|e| Reject::Invalid(format!("scrapeClassName: {e}")))
}

/// The jobs of one PodMonitor.
pub(super) fn generate(
    ctx: &Context<'_>,
    meta: &Meta,
    spec: &PodMonitorSpec,
) -> Result<Vec<Value>, Reject> {
    check(ctx, spec)?;
    spec.pod_metrics_endpoints
        .iter()
        .enumerate()
        .map(|(i, ep)| {
            endpoint_job(ctx, meta, spec, ep, i).map_err(|r| r.within(&format!("endpoint[{i}]")))
        })
        .collect()
}

fn endpoint_job(
    ctx: &Context<'_>,
    meta: &Meta,
    spec: &PodMonitorSpec,
    ep: &PodMetricsEndpoint,
    i: usize,
) -> Result<Value, Reject> {
    let ns = meta.namespace.as_str();
    let class = ctx.scrape_class(spec.scrape_class.as_ref());
    let mut cfg = Map::default();
    cfg.put("job_name", format!("podMonitor/{ns}/{}/{i}", meta.name));
    ctx.honor_labels(&mut cfg, ep.honor_labels);
    ctx.honor_timestamps(&mut cfg, ep.honor_timestamps);
    cfg.put_opt("track_timestamps_staleness", ep.track_timestamps_staleness);

    let attach = spec
        .attach_metadata
        .as_ref()
        .or(class.attach_metadata.as_ref());
    let by_role = spec.selector_mechanism.as_deref() == Some("RoleSelector");
    let namespaces = ctx.target_namespaces(
        spec.namespace_selector.any,
        &spec.namespace_selector.match_names,
        ns,
    );
    let roles = ["pod"];
    cfg.put(
        "kubernetes_sd_configs",
        ctx.k8s_sd(
            "pod",
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
    ctx.tls(
        &mut cfg,
        ns,
        merge_tls(ep.tls_config.as_ref(), &class).as_ref(),
    )
    .map_err(|r| r.within("tlsConfig"))?;
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
    Context::proxy(
        &mut cfg,
        ep.proxy_url.as_ref(),
        ep.no_proxy.as_ref(),
        ep.proxy_from_environment,
    );
    ctx.authorization(
        &mut cfg,
        ns,
        merge_authorization(ep.authorization.as_ref(), &class).as_ref(),
    )
    .map_err(|r| r.within("authorization"))?;

    let mut rl = init_relabelings();
    if ep.filter_running.unwrap_or(true) {
        rl.push(running_filter());
    }
    if !by_role {
        rl.extend(selector_relabelings(&spec.selector, "pod"));
    }
    let keep = |source: &str, regex: Value| {
        rule(&[
            ("action", s("keep")),
            ("source_labels", strings(&[source])),
            ("regex", regex),
        ])
    };
    let port = ep.port.as_ref().filter(|p| !p.is_empty());
    if let Some(p) = port {
        rl.push(keep(
            "__meta_kubernetes_pod_container_port_name",
            s(p.clone()),
        ));
    } else if let Some(n) = ep.port_number.filter(|n| *n != 0) {
        rl.push(keep(
            "__meta_kubernetes_pod_container_port_number",
            s(n.to_string()),
        ));
    } else if let Some(tp) = &ep.target_port {
        match tp {
            IntOrString::Str(name) if !name.is_empty() => {
                rl.push(keep(
                    "__meta_kubernetes_pod_container_port_name",
                    s(name.clone()),
                ));
            }
            IntOrString::Int(n) if *n != 0 => {
                rl.push(keep(
                    "__meta_kubernetes_pod_container_port_number",
                    s(n.to_string()),
                ));
            }
            _ => {}
        }
    }
    for (source, target) in [
        ("__meta_kubernetes_namespace", "namespace"),
        ("__meta_kubernetes_pod_container_name", "container"),
        ("__meta_kubernetes_pod_name", "pod"),
    ] {
        rl.push(rule(&[
            ("source_labels", strings(&[source])),
            ("target_label", s(target)),
        ]));
    }
    for l in spec
        .pod_target_labels
        .iter()
        .chain(&ctx.settings.pod_target_labels)
    {
        rl.push(copy_label("pod", l));
    }
    rl.push(rule(&[
        ("target_label", s("job")),
        ("replacement", s(format!("{ns}/{}", meta.name))),
    ]));
    if !spec.job_label.is_empty() {
        rl.push(rule(&[
            (
                "source_labels",
                strings(&[format!(
                    "__meta_kubernetes_pod_label_{}",
                    sanitize(&spec.job_label)
                )]),
            ),
            ("target_label", s("job")),
            ("regex", s("(.+)")),
            ("replacement", s("${1}")),
        ]));
    }
    let endpoint_label = match port {
        Some(p) => Some(p.clone()),
        None => ep
            .target_port
            .as_ref()
            .map(|t| t.text())
            .filter(|t| !t.is_empty()),
    };
    if let Some(e) = endpoint_label {
        rl.push(rule(&[
            ("target_label", s("endpoint")),
            ("replacement", s(e)),
        ]));
    }
    rl.extend(relabelings(&class.relabelings));
    let own = ctx.with_namespace_label(Kind::PodMonitor, ns, &meta.name, ep.relabelings.clone());
    rl.extend(relabelings(&own));
    cfg.put("relabel_configs", Value::Sequence(rl));

    ctx.scrape_settings(&mut cfg, spec.scrape_settings(), &class, true);
    ctx.metric_relabelings(
        &mut cfg,
        &class,
        Kind::PodMonitor,
        meta,
        &ep.metric_relabelings,
    );
    Ok(cfg.into())
}
