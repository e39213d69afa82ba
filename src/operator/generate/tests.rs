//! The operator's own golden cases (`pkg/prometheus/testdata/*.golden` of
//! prometheus-operator v0.9x, transcribed with their input objects into
//! `tests/fixtures/operator/`): each generated job must equal the operator's, less what
//! shoal leaves out on purpose (sharding rules; TLS files written by the operator, which
//! shoal inlines; enforced limits the operator moves to the global section).

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::{Mapping, Value};

use super::*;

struct Secrets(BTreeMap<(String, String), BTreeMap<String, String>>);

impl SecretSource for Secrets {
    fn secret(&self, ns: &str, name: &str, key: &str) -> Result<String, String> {
        self.0
            .get(&(ns.to_string(), name.to_string()))
            .and_then(|d| d.get(key).cloned())
            .ok_or_else(|| format!("secret \"{ns}/{name}\" key {key:?} not found"))
    }
    fn config_map(&self, ns: &str, name: &str, key: &str) -> Result<String, String> {
        self.secret(ns, name, key)
    }
}

/// The block a PrometheusAgent spec maps onto (camelCase keys → snake_case).
fn settings_from_spec(spec: &Value) -> OperatorConfig {
    let mut m = Mapping::new();
    let all = serde_yaml_ng::from_str::<Value>("{}").unwrap_or(Value::Null);
    for k in [
        "service_monitor_selector",
        "pod_monitor_selector",
        "probe_selector",
        "scrape_config_selector",
        "service_monitor_namespace_selector",
        "pod_monitor_namespace_selector",
        "probe_namespace_selector",
        "scrape_config_namespace_selector",
    ] {
        m.insert(k.into(), all.clone());
    }
    if let Value::Mapping(spec) = spec {
        for (k, v) in spec {
            let Some(k) = k.as_str() else { continue };
            let key = match k {
                "serviceDiscoveryRole" => "service_discovery_role",
                "enforcedSampleLimit" => "enforced_sample_limit",
                "enforcedTargetLimit" => "enforced_target_limit",
                "enforcedLabelLimit" => "enforced_label_limit",
                "enforcedLabelNameLengthLimit" => "enforced_label_name_length_limit",
                "enforcedLabelValueLengthLimit" => "enforced_label_value_length_limit",
                "enforcedKeepDroppedTargets" => "enforced_keep_dropped_targets",
                "enforcedBodySizeLimit" => "enforced_body_size_limit",
                "enforcedNamespaceLabel" => "enforced_namespace_label",
                "excludedFromEnforcement" => "excluded_from_enforcement",
                "ignoreNamespaceSelectors" => "ignore_namespace_selectors",
                "scrapeClasses" => "scrape_classes",
                "podTargetLabels" => "pod_target_labels",
                "overrideHonorLabels" => "override_honor_labels",
                "overrideHonorTimestamps" => "override_honor_timestamps",
                "arbitraryFSAccessThroughSMs" => "arbitrary_fs_access_through_sms",
                _ => continue,
            };
            m.insert(key.into(), v.clone());
        }
    }
    match serde_yaml_ng::from_value(Value::Mapping(m)) {
        Ok(s) => s,
        Err(e) => panic!("settings: {e}"),
    }
}

fn kind_of(k: &str) -> Option<Kind> {
    Some(match k {
        "ServiceMonitor" => Kind::ServiceMonitor,
        "PodMonitor" => Kind::PodMonitor,
        "Probe" => Kind::Probe,
        "ScrapeConfig" => Kind::ScrapeConfig,
        _ => return None,
    })
}

fn get<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.as_mapping().and_then(|m| m.get(k))
}

/// Drops the operator's sharding rules (`__tmp_hash`, `hashmod`) from a golden job, and
/// reads an integer `regex` (the operator writes a port number unquoted) as the string
/// Prometheus' YAML loader makes of it.
fn strip_sharding(job: &mut Value) {
    if let Some(Value::Sequence(rules)) = job
        .as_mapping_mut()
        .and_then(|m| m.get_mut("relabel_configs"))
    {
        for r in rules.iter_mut() {
            if let Some(m) = r.as_mapping_mut()
                && let Some(Value::Number(n)) = m.get("regex").cloned()
            {
                m.insert("regex".into(), Value::String(n.to_string()));
            }
        }
    }
    let Some(Value::Sequence(rules)) = job
        .as_mapping_mut()
        .and_then(|m| m.get_mut("relabel_configs"))
    else {
        return;
    };
    rules.retain(|r| {
        let text = serde_yaml_ng::to_string(r).unwrap_or_default();
        !text.contains("__tmp_hash") && !text.contains("hashmod")
    });
}

/// TLS material the operator writes to files is compared by presence only.
fn strip_tls_files(golden: &mut Value, ours: &mut Value) {
    let pairs = [
        ("ca_file", "ca"),
        ("cert_file", "cert"),
        ("key_file", "key"),
    ];
    fn tls(v: &mut Value) -> Option<&mut Mapping> {
        v.as_mapping_mut()
            .and_then(|m| m.get_mut("tls_config"))
            .and_then(|t| t.as_mapping_mut())
    }
    let mut moved = Vec::new();
    if let Some(g) = tls(golden) {
        for (file, inline) in pairs {
            let operator_file = g
                .get(file)
                .and_then(|v| v.as_str())
                .is_some_and(|p| p.starts_with("/etc/prometheus/certs/"));
            if operator_file {
                g.remove(file);
                moved.push(inline);
            }
        }
    }
    if let Some(o) = tls(ours) {
        for inline in moved {
            assert!(o.remove(inline).is_some(), "{inline} inlined");
        }
    }
}

/// The operator puts an enforced limit the object does not set into `global`; shoal puts
/// it into the job (shoal's `global` belongs to the file).
fn strip_enforced_limits(settings: &OperatorConfig, golden: &Value, ours: &mut Value) {
    let limits = [
        ("sample_limit", settings.enforced_sample_limit),
        ("target_limit", settings.enforced_target_limit),
        ("label_limit", settings.enforced_label_limit),
        (
            "label_name_length_limit",
            settings.enforced_label_name_length_limit,
        ),
        (
            "label_value_length_limit",
            settings.enforced_label_value_length_limit,
        ),
        (
            "keep_dropped_targets",
            settings.enforced_keep_dropped_targets,
        ),
    ];
    let Some(o) = ours.as_mapping_mut() else {
        return;
    };
    for (key, enforced) in limits {
        if get(golden, key).is_none()
            && enforced.is_some()
            && o.get(key).and_then(|v| v.as_u64()) == enforced
        {
            o.remove(key);
        }
    }
}

/// Cases whose golden comes from a generator call that skips the operator's validation
/// (objects the operator would reject before generating), with the reason.
const NOT_COMPARABLE: &[(&str, &str)] = &[];

#[test]
fn generated_jobs_equal_the_operators_golden_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/operator");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    assert!(files.len() >= 12, "fixtures in {dir}");
    let mut failures = Vec::new();
    let mut compared = 0;
    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if NOT_COMPARABLE.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let doc: Value = serde_yaml_ng::from_str(&text).unwrap_or(Value::Null);
        let settings = settings_from_spec(get(&doc, "spec").unwrap_or(&Value::Null));
        let mut secrets = BTreeMap::new();
        let mut objects: Vec<(Kind, RawObject)> = Vec::new();
        for o in get(&doc, "objects")
            .and_then(|v| v.as_sequence())
            .into_iter()
            .flatten()
        {
            let kind = get(o, "kind").and_then(|k| k.as_str()).unwrap_or("");
            let meta: Meta =
                serde_yaml_ng::from_value(get(o, "metadata").cloned().unwrap_or(Value::Null))
                    .unwrap_or_default();
            if kind == "Secret" || kind == "ConfigMap" {
                let mut data = BTreeMap::new();
                for field in ["stringData", "data"] {
                    if let Some(Value::Mapping(m)) = get(o, field) {
                        for (k, v) in m {
                            data.insert(
                                k.as_str().unwrap_or("").to_string(),
                                v.as_str().unwrap_or("").to_string(),
                            );
                        }
                    }
                }
                secrets.insert((meta.namespace.clone(), meta.name.clone()), data);
            } else if let Some(k) = kind_of(kind) {
                let spec = serde_json::to_string(&get(o, "spec").cloned().unwrap_or(Value::Null))
                    .unwrap_or_default()
                    .into();
                objects.push((k, RawObject { meta, spec }));
            }
        }
        let secrets = Secrets(secrets);
        let global = GlobalConfig::default();
        let ctx = Context {
            settings: &settings,
            global: &global,
            classes: settings
                .scrape_classes
                .iter()
                .filter_map(|c| parse_scrape_class(c).ok())
                .collect(),
            secrets: &secrets,
            connection: connection_mapping(&settings),
            default_role: endpoint_role(settings.service_discovery_role.as_deref()),
        };
        let mut ours: BTreeMap<String, Value> = BTreeMap::new();
        for (kind, obj) in &objects {
            match build(&ctx, *kind, obj) {
                Ok(jobs) => {
                    for j in jobs {
                        let n = get(&j, "job_name")
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .to_string();
                        ours.insert(n, j);
                    }
                }
                Err(e) => failures.push(format!(
                    "{name}: {}/{} rejected: {e}",
                    obj.meta.namespace, obj.meta.name
                )),
            }
        }
        for golden in get(&doc, "scrape_configs")
            .and_then(|v| v.as_sequence())
            .into_iter()
            .flatten()
        {
            let job = get(golden, "job_name")
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let mut golden = golden.clone();
            strip_sharding(&mut golden);
            let Some(mut mine) = ours.get(job).cloned() else {
                failures.push(format!("{name}: no job {job}"));
                continue;
            };
            strip_tls_files(&mut golden, &mut mine);
            strip_enforced_limits(&settings, &golden, &mut mine);
            compared += 1;
            if golden != mine {
                failures.push(format!(
                    "{name}: job {job} differs\n--- operator\n{}--- shoal\n{}",
                    serde_yaml_ng::to_string(&golden).unwrap_or_default(),
                    serde_yaml_ng::to_string(&mine).unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} jobs:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Inputs for one ServiceMonitor in `apps`, with `secrets`, under `settings`.
fn one_monitor(
    spec: serde_json::Value,
    settings: &OperatorConfig,
    secrets: &Secrets,
    file_jobs: &BTreeSet<String>,
) -> Generation {
    let objects = BTreeMap::from([(
        Kind::ServiceMonitor,
        vec![std::sync::Arc::new(RawObject {
            meta: Meta {
                name: "web".into(),
                namespace: "apps".into(),
                ..Meta::default()
            },
            spec: spec.to_string().into(),
        })],
    )]);
    let global = GlobalConfig::default();
    generate(&Inputs {
        settings,
        own_namespace: "apps",
        global: &global,
        file_jobs,
        objects: &objects,
        namespaces: &BTreeMap::new(),
        secrets,
    })
}

fn select_all() -> OperatorConfig {
    OperatorConfig {
        service_monitor_selector: Some(LabelSelector::default()),
        ..OperatorConfig::default()
    }
}

#[test]
fn rejections_name_their_reason_and_never_a_secret_value() {
    let secrets = Secrets(BTreeMap::from([(
        ("apps".to_string(), "creds".to_string()),
        BTreeMap::from([
            ("password".to_string(), "hunter2".to_string()),
            ("user".to_string(), "alice".to_string()),
        ]),
    )]));
    let none = BTreeSet::new();
    let base = |ep: serde_json::Value| serde_json::json!({"selector": {"matchLabels": {"app": "web"}}, "endpoints": [ep]});
    let cases: Vec<(serde_json::Value, OperatorConfig, &str, &str)> = vec![
        (
            base(serde_json::json!({"port": "m", "basicAuth": {
                "username": {"name": "creds", "key": "nouser"},
                "password": {"name": "creds", "key": "password"}}})),
            select_all(),
            "missing_secret",
            "key \"nouser\"",
        ),
        (
            base(
                serde_json::json!({"port": "m", "relabelings": [{"sourceLabels": ["a"], "regex": "(x", "action": "keep"}]}),
            ),
            select_all(),
            "invalid",
            "relabelConfigs",
        ),
        (
            base(serde_json::json!({"port": "m", "tlsConfig": {"caFile": "/etc/ssl/ca.pem"}})),
            OperatorConfig {
                arbitrary_fs_access_through_sms: Some(crate::config::ArbitraryFsAccess {
                    deny: true,
                }),
                ..select_all()
            },
            "denied_file_access",
            "tls config",
        ),
        (
            base(serde_json::json!({"port": "m", "bearerTokenFile": "/var/run/token"})),
            OperatorConfig {
                arbitrary_fs_access_through_sms: Some(crate::config::ArbitraryFsAccess {
                    deny: true,
                }),
                ..select_all()
            },
            "denied_file_access",
            "bearer token file",
        ),
        (
            base(
                serde_json::json!({"port": "m", "oauth2": {"clientId": {"secret": {"name": "creds", "key": "password"}}}}),
            ),
            select_all(),
            "unsupported",
            "oauth2",
        ),
        (
            base(serde_json::json!({"port": "m", "interval": "10s", "scrapeTimeout": "30s"})),
            select_all(),
            "invalid",
            "greater than scrapeInterval",
        ),
        (
            serde_json::json!({"selector": {}, "endpoints": [{"port": "m"}], "noSuchField": 1}),
            select_all(),
            "unsupported",
            "noSuchField",
        ),
        (
            base(serde_json::json!({"port": "m"}))
                .as_object()
                .cloned()
                .map(|mut m| {
                    m.insert("scrapeClass".into(), "missing".into());
                    serde_json::Value::Object(m)
                })
                .unwrap_or_default(),
            select_all(),
            "invalid",
            "scrapeClass \"missing\" not found",
        ),
    ];
    for (spec, settings, category, reason) in cases {
        let g = one_monitor(spec.clone(), &settings, &secrets, &none);
        let o = &g.objects[0];
        assert_eq!(o.state, "rejected", "{spec}: {o:?}");
        assert_eq!(o.category, category, "{spec}: {o:?}");
        assert!(o.reason.contains(reason), "{spec}: {}", o.reason);
        assert!(!o.reason.contains("hunter2"), "{}", o.reason);
        assert!(g.jobs.is_empty());
    }
    // A file job of the same name rejects the object, not the file.
    let taken = BTreeSet::from(["serviceMonitor/apps/web/0".to_string()]);
    let g = one_monitor(
        base(serde_json::json!({"port": "m"})),
        &select_all(),
        &secrets,
        &taken,
    );
    assert_eq!(g.objects[0].category, "job_conflict");
    // The Secret appears: accepted, password inline (shown as <secret>).
    let g = one_monitor(
        base(serde_json::json!({"port": "m", "basicAuth": {
            "username": {"name": "creds", "key": "user"},
            "password": {"name": "creds", "key": "password"}}})),
        &select_all(),
        &secrets,
        &none,
    );
    assert_eq!(g.objects[0].state, "accepted");
    let mut job = g.jobs[0].clone();
    let auth = job.http.basic_auth.as_ref().unwrap();
    assert_eq!(auth.password.as_ref().unwrap().expose(), "hunter2");
    assert_eq!(auth.username, "alice");
    assert!(!serde_yaml_ng::to_string(&job).unwrap().contains("hunter2"));
    crate::operator::redact_for_display(&mut job);
    assert!(!serde_yaml_ng::to_string(&job).unwrap().contains("alice"));
}

#[test]
fn selection_follows_selectors_and_namespace_selectors() {
    let mk = |ns: &str, name: &str, team: &str| {
        std::sync::Arc::new(RawObject {
            meta: Meta {
                name: name.into(),
                namespace: ns.into(),
                labels: BTreeMap::from([("team".to_string(), team.to_string())]),
                ..Meta::default()
            },
            spec: r#"{"selector": {}, "podMetricsEndpoints": [{"port": "m"}]}"#.into(),
        })
    };
    let objects = BTreeMap::from([(
        Kind::PodMonitor,
        vec![
            mk("apps", "b", "a"),
            mk("apps", "a", "a"),
            mk("other", "c", "a"),
            mk("apps", "d", "z"),
        ],
    )]);
    let namespaces = BTreeMap::from([
        (
            "apps".to_string(),
            BTreeMap::from([("env".to_string(), "prod".to_string())]),
        ),
        ("other".to_string(), BTreeMap::new()),
    ]);
    let sel: LabelSelector = serde_yaml_ng::from_str("matchLabels: {team: a}").unwrap();
    let run = |settings: OperatorConfig| {
        let global = GlobalConfig::default();
        let g = generate(&Inputs {
            settings: &settings,
            own_namespace: "apps",
            global: &global,
            file_jobs: &BTreeSet::new(),
            objects: &objects,
            namespaces: &namespaces,
            secrets: &Secrets(BTreeMap::new()),
        });
        g.jobs
            .iter()
            .map(|j| j.job_name.clone())
            .collect::<Vec<_>>()
    };
    // No selector: no PodMonitor at all.
    assert!(run(OperatorConfig::default()).is_empty());
    // Selector, no namespace selector: own namespace only, sorted by namespace/name.
    let own = OperatorConfig {
        pod_monitor_selector: Some(sel.clone()),
        ..OperatorConfig::default()
    };
    assert_eq!(run(own), ["podMonitor/apps/a/0", "podMonitor/apps/b/0"]);
    // `{}` namespace selector: every namespace.
    let all = OperatorConfig {
        pod_monitor_selector: Some(sel.clone()),
        pod_monitor_namespace_selector: Some(LabelSelector::default()),
        ..OperatorConfig::default()
    };
    assert_eq!(
        run(all),
        [
            "podMonitor/apps/a/0",
            "podMonitor/apps/b/0",
            "podMonitor/other/c/0"
        ]
    );
    // A namespace selector with expressions.
    let prod = OperatorConfig {
        pod_monitor_selector: Some(sel),
        pod_monitor_namespace_selector: Some(
            serde_yaml_ng::from_str("matchExpressions: [{key: env, operator: In, values: [prod]}]")
                .unwrap(),
        ),
        ..OperatorConfig::default()
    };
    assert_eq!(run(prod), ["podMonitor/apps/a/0", "podMonitor/apps/b/0"]);
}
