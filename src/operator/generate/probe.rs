//! Probe → one job (`checkProbe`, then `generateProbeConfig`), without the sharding rules.
//! `module` and `params` become the job's query parameters; static targets win over
//! ingress ones.

use serde_yaml_ng::Value;

use super::common::{
    Map, init_relabelings, merge_authorization, merge_tls, relabelings, rule, s,
    selector_relabelings, strings,
};
use super::{Context, Kind, Reject, check_relabel, unsupported};
use crate::operator::objects::{Meta, ProbeSpec};

fn check(ctx: &Context<'_>, spec: &ProbeSpec) -> Result<(), Reject> {
    ctx.check_scrape_class(spec.scrape_class.as_ref())
        .map_err(|e| Reject::Invalid(format!("scrapeClassName: {e}")))?;
    let t = &spec.targets;
    if t.static_config.is_none() && t.ingress.is_none() {
        return Err(Reject::Invalid(
            "at least one of .spec.targets.staticConfig and .spec.targets.ingress is required"
                .into(),
        ));
    }
    unsupported("oauth2", spec.oauth2.is_some())?;
    unsupported(
        "prober.proxyConnectHeader",
        spec.prober.proxy_connect_header.is_some(),
    )?;
    super::check_interval_timeout(ctx.global, &spec.interval, &spec.scrape_timeout)?;
    check_relabel("metricRelabelConfigs", &spec.metric_relabelings)?;
    if let Some(st) = &t.static_config {
        for name in st.labels.iter().flat_map(|l| l.keys()) {
            if !crate::config::valid_label_name(name, ctx.global.legacy_label_names()) {
                return Err(Reject::Invalid(format!(
                    "targets.staticConfig.labels: invalid label {name:?}"
                )));
            }
        }
        check_relabel(
            "targets.staticConfig.relabelConfigs",
            &st.relabeling_configs,
        )?;
    }
    if let Some(ing) = &t.ingress {
        check_relabel("targets.ingress.relabelConfigs", &ing.relabeling_configs)?;
    }
    check_prober_url(&spec.prober.url).map_err(|e| {
        Reject::Invalid(format!(
            "{:?} url specified in proberSpec is invalid, it should be of the format `hostname` or `hostname:port`: {e}",
            spec.prober.url
        ))
    })
}

/// `validateProberURL`: `host` or `host:port`.
fn check_prober_url(url: &str) -> Result<(), String> {
    let host_ok = |h: &str| {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        !h.is_empty()
            && (h.parse::<std::net::IpAddr>().is_ok()
                || h.split('.').all(|part| {
                    !part.is_empty()
                        && part.len() <= 63
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                }))
    };
    if host_ok(url) {
        return Ok(());
    }
    let Some((host, port)) = url.rsplit_once(':') else {
        return Err(format!("invalid host: {url:?}"));
    };
    if !host_ok(host) {
        return Err(format!("invalid host: {host:?}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("invalid port: {port:?}")),
    }
}

/// The job of one Probe.
pub(super) fn generate(ctx: &Context<'_>, meta: &Meta, spec: &ProbeSpec) -> Result<Value, Reject> {
    check(ctx, spec)?;
    let ns = meta.namespace.as_str();
    let class = ctx.scrape_class(spec.scrape_class.as_ref());
    let mut cfg = Map::default();
    cfg.put("job_name", format!("probe/{ns}/{}", meta.name));
    ctx.honor_timestamps(&mut cfg, Some(true));
    // The CRD defaults `prober.path` to `/probe`.
    let path = spec
        .prober
        .path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/probe".into());
    cfg.put("metrics_path", path);
    if !spec.interval.is_empty() {
        cfg.put("scrape_interval", spec.interval.clone());
    }
    if !spec.scrape_timeout.is_empty() {
        cfg.put("scrape_timeout", spec.scrape_timeout.clone());
    }
    cfg.put_opt(
        "scheme",
        spec.prober.scheme.as_ref().map(|s| s.to_lowercase()),
    );
    let mut params = Map::default();
    if !spec.module.is_empty() {
        params.put("module", strings(std::slice::from_ref(&spec.module)));
    }
    for p in &spec.params {
        if !spec.module.is_empty() && p.name == "module" {
            continue;
        }
        params.put(&p.name, strings(&p.values));
    }
    if !params.0.is_empty() {
        cfg.put("params", params);
    }
    ctx.scrape_settings(&mut cfg, spec.scrape_settings(), &class, false);

    let mut rl = init_relabelings();
    if !spec.job_name.is_empty() {
        rl.push(rule(&[
            ("target_label", s("job")),
            ("replacement", s(spec.job_name.clone())),
        ]));
    }
    Context::proxy(
        &mut cfg,
        spec.prober.proxy_url.as_ref(),
        spec.prober.no_proxy.as_ref(),
        spec.prober.proxy_from_environment,
    );
    cfg.put_opt("follow_redirects", spec.follow_redirects);
    cfg.put_opt("enable_http2", spec.enable_http2);
    ctx.tls(
        &mut cfg,
        ns,
        merge_tls(spec.tls_config.as_ref(), &class).as_ref(),
    )
    .map_err(|r| r.within("tlsConfig"))?;

    let prober = |rl: &mut Vec<Value>| {
        rl.push(rule(&[
            ("source_labels", strings(&["__param_target"])),
            ("target_label", s("instance")),
        ]));
        rl.push(rule(&[
            ("target_label", s("__address__")),
            ("replacement", s(spec.prober.url.clone())),
        ]));
    };
    if let Some(st) = &spec.targets.static_config {
        let mut labels = st.labels.clone().unwrap_or_default();
        labels
            .entry("namespace".into())
            .or_insert_with(|| ns.to_string());
        let mut sc = Map::default();
        sc.put("targets", strings(&st.targets));
        let mut lm = Map::default();
        for (k, v) in &labels {
            lm.put(k, v.clone());
        }
        sc.put("labels", lm);
        cfg.put("static_configs", Value::Sequence(vec![sc.into()]));
        rl.push(rule(&[
            ("source_labels", strings(&["__address__"])),
            ("target_label", s("__param_target")),
        ]));
        prober(&mut rl);
        rl.extend(relabelings(&class.relabelings));
        let own =
            ctx.with_namespace_label(Kind::Probe, ns, &meta.name, st.relabeling_configs.clone());
        rl.extend(relabelings(&own));
    } else if let Some(ing) = &spec.targets.ingress {
        rl.extend(selector_relabelings(&ing.selector, "ingress"));
        let namespaces = ctx.target_namespaces(
            ing.namespace_selector.any,
            &ing.namespace_selector.match_names,
            ns,
        );
        cfg.put(
            "kubernetes_sd_configs",
            ctx.k8s_sd("ingress", namespaces, None, None),
        );
        rl.push(rule(&[
            (
                "source_labels",
                strings(&[
                    "__meta_kubernetes_ingress_scheme",
                    "__address__",
                    "__meta_kubernetes_ingress_path",
                ]),
            ),
            ("separator", s(";")),
            ("regex", s("(.+);(.+);(.+)")),
            ("target_label", s("__param_target")),
            ("replacement", s("${1}://${2}${3}")),
            ("action", s("replace")),
        ]));
        for (source, target) in [
            ("__meta_kubernetes_namespace", "namespace"),
            ("__meta_kubernetes_ingress_name", "ingress"),
        ] {
            rl.push(rule(&[
                ("source_labels", strings(&[source])),
                ("target_label", s(target)),
            ]));
        }
        rl.push(rule(&[
            ("source_labels", strings(&["__address__"])),
            ("separator", s(";")),
            ("regex", s("(.*)")),
            ("target_label", s("__tmp_ingress_address")),
            ("replacement", s("$1")),
            ("action", s("replace")),
        ]));
        prober(&mut rl);
        rl.extend(relabelings(&class.relabelings));
        let own =
            ctx.with_namespace_label(Kind::Probe, ns, &meta.name, ing.relabeling_configs.clone());
        rl.extend(relabelings(&own));
    }
    cfg.put("relabel_configs", Value::Sequence(rl));

    if let Some(b) = &spec.bearer_token_secret {
        let token = ctx
            .secret(ns, b)
            .map_err(|r| r.within("bearerTokenSecret"))?;
        cfg.put("bearer_token", token);
    }
    ctx.basic_auth(&mut cfg, ns, spec.basic_auth.as_ref())
        .map_err(|r| r.within("basicAuth"))?;
    ctx.authorization(
        &mut cfg,
        ns,
        merge_authorization(spec.authorization.as_ref(), &class).as_ref(),
    )
    .map_err(|r| r.within("authorization"))?;
    ctx.metric_relabelings(
        &mut cfg,
        &class,
        Kind::Probe,
        meta,
        &spec.metric_relabelings,
    );
    Ok(cfg.into())
}
