//! ScrapeConfig → one job (`checkScrapeConfig`, then `generateScrapeConfig`) with the
//! discovery mechanisms shoal has: static, file, http and kubernetes.

use serde_yaml_ng::Value;

use super::common::{
    Map, init_relabelings, merge_authorization, merge_tls, relabelings, rule, s, strings,
};
use super::service_monitor::params;
use super::{Context, Kind, Reject, check_relabel, unsupported};
use crate::operator::objects::{Meta, ScrapeConfigSpec};

/// Selector roles each Kubernetes SD role accepts.
fn allowed_selectors(role: &str) -> Option<&'static [&'static str]> {
    Some(match role {
        "pod" => &["pod"],
        "service" => &["service"],
        "endpointslice" => &["pod", "service", "endpointslice"],
        "endpoints" => &["pod", "service", "endpoints"],
        "node" => &["node"],
        "ingress" => &["ingress"],
        _ => return None,
    })
}

fn check(ctx: &Context<'_>, spec: &ScrapeConfigSpec) -> Result<(), Reject> {
    ctx.check_scrape_class(spec.scrape_class.as_ref())
        .map_err(Reject::Invalid)?;
    check_relabel("relabelConfigs", &spec.relabelings)?;
    unsupported("oauth2", spec.oauth2.is_some())?;
    unsupported("proxyConnectHeader", spec.proxy_connect_header.is_some())?;
    super::check_interval_timeout(
        ctx.global,
        spec.scrape_interval.as_deref().unwrap_or(""),
        spec.scrape_timeout.as_deref().unwrap_or(""),
    )?;
    check_relabel("metricRelabelConfigs", &spec.metric_relabelings)?;
    for name in spec
        .static_configs
        .iter()
        .flat_map(|c| c.labels.iter().flat_map(|l| l.keys()))
    {
        if !crate::config::valid_label_name(name, ctx.global.legacy_label_names()) {
            return Err(Reject::Invalid(format!(
                "staticConfigs: invalid label {name:?}"
            )));
        }
    }
    for (i, h) in spec.http_sd_configs.iter().enumerate() {
        let at = format!("httpSDConfigs[{i}]");
        unsupported("oauth2", h.oauth2.is_some()).map_err(|r| r.within(&at))?;
        unsupported("proxyConnectHeader", h.proxy_connect_header.is_some())
            .map_err(|r| r.within(&at))?;
    }
    for (i, k) in spec.kubernetes_sd_configs.iter().enumerate() {
        let at = format!("kubernetesSDConfigs[{i}]");
        unsupported("oauth2", k.oauth2.is_some()).map_err(|r| r.within(&at))?;
        unsupported("proxyConnectHeader", k.proxy_connect_header.is_some())
            .map_err(|r| r.within(&at))?;
        if k.api_server.is_some()
            && k.namespaces.as_ref().and_then(|n| n.own_namespace) == Some(true)
        {
            return Err(Reject::Invalid(format!(
                "{at}: cannot use 'apiServer' and 'namespaces.ownNamespace' simultaneously"
            )));
        }
        let role = k.role.to_lowercase();
        for sel in &k.selectors {
            let Some(allowed) = allowed_selectors(&role) else {
                return Err(Reject::Invalid(format!(
                    "{at}: invalid role: {:?}, expecting one of: pod, service, endpoints, endpointslice, node or ingress",
                    sel.role
                )));
            };
            if !allowed.contains(&sel.role.to_lowercase().as_str()) {
                return Err(Reject::Invalid(format!(
                    "{at} : {} role supports only {} selectors",
                    k.role,
                    allowed.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// The job of one ScrapeConfig.
pub(super) fn generate(
    ctx: &Context<'_>,
    meta: &Meta,
    spec: &ScrapeConfigSpec,
) -> Result<Value, Reject> {
    check(ctx, spec)?;
    let ns = meta.namespace.as_str();
    let class = ctx.scrape_class(spec.scrape_class.as_ref());
    let mut cfg = Map::default();
    cfg.put("job_name", format!("scrapeConfig/{ns}/{}", meta.name));
    let mut rl = init_relabelings();
    rl.extend(relabelings(&class.relabelings));
    if let Some(job) = &spec.job_name {
        rl.push(rule(&[
            ("target_label", s("job")),
            ("action", s("replace")),
            ("replacement", s(job.clone())),
        ]));
    }
    if spec.honor_timestamps.is_some() {
        ctx.honor_timestamps(&mut cfg, spec.honor_timestamps);
    }
    cfg.put_opt(
        "track_timestamps_staleness",
        spec.track_timestamps_staleness,
    );
    if let Some(h) = spec.honor_labels {
        ctx.honor_labels(&mut cfg, h);
    }
    cfg.put_opt("metrics_path", spec.metrics_path.clone());
    if !spec.params.is_empty() {
        cfg.put("params", params(&spec.params));
    }
    cfg.put_opt("enable_compression", spec.enable_compression);
    cfg.put_opt("enable_http2", spec.enable_http2);
    cfg.put_opt("scrape_interval", spec.scrape_interval.clone());
    cfg.put_opt("scrape_timeout", spec.scrape_timeout.clone());
    cfg.put_opt("scheme", spec.scheme.as_ref().map(|s| s.to_lowercase()));
    Context::proxy(
        &mut cfg,
        spec.proxy_url.as_ref(),
        spec.no_proxy.as_ref(),
        spec.proxy_from_environment,
    );
    ctx.basic_auth(&mut cfg, ns, spec.basic_auth.as_ref())
        .map_err(|r| r.within("basicAuth"))?;
    ctx.authorization(
        &mut cfg,
        ns,
        merge_authorization(spec.authorization.as_ref(), &class).as_ref(),
    )
    .map_err(|r| r.within("authorization"))?;
    ctx.tls(
        &mut cfg,
        ns,
        merge_tls(spec.tls_config.as_ref(), &class).as_ref(),
    )
    .map_err(|r| r.within("tlsConfig"))?;
    ctx.scrape_settings(&mut cfg, spec.scrape_settings(), &class, true);

    if !spec.static_configs.is_empty() {
        let list = spec
            .static_configs
            .iter()
            .map(|c| {
                let mut m = Map::default();
                m.put("targets", strings(&c.targets));
                let mut lm = Map::default();
                for (k, v) in c.labels.iter().flatten() {
                    lm.put(k, v.clone());
                }
                m.put("labels", lm);
                m.into()
            })
            .collect();
        cfg.put("static_configs", Value::Sequence(list));
    }
    if !spec.file_sd_configs.is_empty() {
        let list = spec
            .file_sd_configs
            .iter()
            .map(|c| {
                let mut m = Map::default();
                m.put("files", strings(&c.files));
                m.put_opt("refresh_interval", c.refresh_interval.clone());
                m.into()
            })
            .collect();
        cfg.put("file_sd_configs", Value::Sequence(list));
    }
    if !spec.http_sd_configs.is_empty() {
        let mut list = Vec::new();
        for (i, c) in spec.http_sd_configs.iter().enumerate() {
            let at = format!("httpSDConfigs[{i}]");
            let mut m = Map::default();
            ctx.basic_auth(&mut m, ns, c.basic_auth.as_ref())
                .map_err(|r| r.within(&at))?;
            ctx.authorization(&mut m, ns, c.authorization.as_ref())
                .map_err(|r| r.within(&at))?;
            ctx.tls(&mut m, ns, c.tls_config.as_ref())
                .map_err(|r| r.within(&at))?;
            Context::proxy(
                &mut m,
                c.proxy_url.as_ref(),
                c.no_proxy.as_ref(),
                c.proxy_from_environment,
            );
            m.put("url", c.url.clone());
            m.put_opt("refresh_interval", c.refresh_interval.clone());
            m.put_opt("follow_redirects", c.follow_redirects);
            m.put_opt("enable_http2", c.enable_http2);
            list.push(m.into());
        }
        cfg.put("http_sd_configs", Value::Sequence(list));
    }
    if !spec.kubernetes_sd_configs.is_empty() {
        let mut list = Vec::new();
        for (i, c) in spec.kubernetes_sd_configs.iter().enumerate() {
            let at = format!("kubernetesSDConfigs[{i}]");
            let mut m = Map::default();
            let role = c.role.to_lowercase();
            match &c.api_server {
                Some(url) => m.put("api_server", url.clone()),
                // In a pod the operator's job reaches the API server in-cluster; shoal
                // reaches it as the `prometheus_operator` block does.
                None => ctx.connection(&mut m),
            }
            m.put("role", role.clone());
            ctx.basic_auth(&mut m, ns, c.basic_auth.as_ref())
                .map_err(|r| r.within(&at))?;
            ctx.authorization(&mut m, ns, c.authorization.as_ref())
                .map_err(|r| r.within(&at))?;
            Context::proxy(
                &mut m,
                c.proxy_url.as_ref(),
                c.no_proxy.as_ref(),
                c.proxy_from_environment,
            );
            m.put_opt("follow_redirects", c.follow_redirects);
            m.put_opt("enable_http2", c.enable_http2);
            ctx.tls(&mut m, ns, c.tls_config.as_ref())
                .map_err(|r| r.within(&at))?;
            if let Some(n) = &c.namespaces {
                let mut nm = Map::default();
                nm.put("names", strings(&n.names));
                nm.put_opt("own_namespace", n.own_namespace);
                m.put("namespaces", nm);
            }
            if !c.selectors.is_empty() {
                let sels = c
                    .selectors
                    .iter()
                    .map(|sel| {
                        let mut sm = Map::default();
                        sm.put("role", sel.role.to_lowercase());
                        sm.put_opt("label", sel.label.clone());
                        sm.put_opt("field", sel.field.clone());
                        sm.into()
                    })
                    .collect();
                m.put("selectors", Value::Sequence(sels));
            }
            if let Some(a) = &c.attach_metadata
                && matches!(role.as_str(), "pod" | "endpoints" | "endpointslice")
            {
                let mut am = Map::default();
                am.put_opt("node", a.node);
                m.put("attach_metadata", am);
            }
            list.push(m.into());
        }
        cfg.put("kubernetes_sd_configs", Value::Sequence(list));
    }

    let own =
        ctx.with_namespace_label(Kind::ScrapeConfig, ns, &meta.name, spec.relabelings.clone());
    if !spec.relabelings.is_empty() {
        rl.extend(relabelings(&own));
    }
    cfg.put("relabel_configs", Value::Sequence(rl));
    ctx.metric_relabelings(
        &mut cfg,
        &class,
        Kind::ScrapeConfig,
        meta,
        &spec.metric_relabelings,
    );
    cfg.put_opt(
        "metric_name_validation_scheme",
        spec.name_validation_scheme
            .as_ref()
            .map(|s| s.to_lowercase()),
    );
    cfg.put_opt(
        "metric_name_escaping_scheme",
        spec.name_escaping_scheme.as_ref().map(|s| s.to_lowercase()),
    );
    Ok(cfg.into())
}
