//! Table tests mirroring Prometheus' `TestPopulateLabels`.

use super::*;
use crate::config::ScrapeConfig;

fn cfg() -> ScrapeConfig {
    ScrapeConfig {
        job_name: "job".into(),
        scrape_interval: Some(PromDuration(Duration::from_secs(60))),
        scrape_timeout: Some(PromDuration(Duration::from_secs(10))),
        ..Default::default()
    }
}

fn map(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn active(out: Result<TargetOutcome, TargetError>) -> Target {
    match out {
        Ok(TargetOutcome::Active(t)) => t,
        other => panic!("expected an active target, got {other:?}"),
    }
}

/// Expected labels and URL.
type Want = Result<(&'static [(&'static str, &'static str)], &'static str), TargetError>;

struct Case {
    name: &'static str,
    group: &'static [(&'static str, &'static str)],
    target: &'static [(&'static str, &'static str)],
    cfg: fn() -> ScrapeConfig,
    want: Want,
}

#[test]
fn populate_labels_table() {
    let cases = [
        Case {
            name: "defaults are filled in",
            group: &[],
            target: &[("__address__", "1.2.3.4:1000"), ("custom", "value")],
            cfg,
            want: Ok((
                &[
                    ("__address__", "1.2.3.4:1000"),
                    ("__metrics_path__", "/metrics"),
                    ("__scheme__", "http"),
                    ("__scrape_interval__", "1m"),
                    ("__scrape_timeout__", "10s"),
                    ("custom", "value"),
                    ("instance", "1.2.3.4:1000"),
                    ("job", "job"),
                ],
                "http://1.2.3.4:1000/metrics",
            )),
        },
        Case {
            name: "target labels override group labels and defaults",
            group: &[("custom", "group"), ("job", "group-job")],
            target: &[
                ("__address__", "1.2.3.4:1000"),
                ("__scheme__", "https"),
                ("__metrics_path__", "/custom"),
                ("__scrape_interval__", "2s"),
                ("__scrape_timeout__", "500ms"),
                ("custom", "target"),
                ("instance", "my-instance"),
            ],
            cfg,
            want: Ok((
                &[
                    ("__address__", "1.2.3.4:1000"),
                    ("__metrics_path__", "/custom"),
                    ("__scheme__", "https"),
                    ("__scrape_interval__", "2s"),
                    ("__scrape_timeout__", "500ms"),
                    ("custom", "target"),
                    ("instance", "my-instance"),
                    ("job", "group-job"),
                ],
                "https://1.2.3.4:1000/custom",
            )),
        },
        Case {
            name: "meta labels are removed after relabeling",
            group: &[("__meta_group", "g")],
            target: &[("__address__", "h:1"), ("__meta_x", "y")],
            cfg,
            want: Ok((
                &[
                    ("__address__", "h:1"),
                    ("__metrics_path__", "/metrics"),
                    ("__scheme__", "http"),
                    ("__scrape_interval__", "1m"),
                    ("__scrape_timeout__", "10s"),
                    ("instance", "h:1"),
                    ("job", "job"),
                ],
                "http://h:1/metrics",
            )),
        },
        Case {
            name: "params become __param_ labels and the query",
            group: &[],
            target: &[("__address__", "probe:9115")],
            cfg: || ScrapeConfig {
                metrics_path: Some("/probe".into()),
                params: [
                    (
                        "module".to_string(),
                        vec!["http_2xx".to_string(), "b".to_string()],
                    ),
                    ("empty".to_string(), vec![]),
                ]
                .into_iter()
                .collect(),
                ..cfg()
            },
            want: Ok((
                &[
                    ("__address__", "probe:9115"),
                    ("__metrics_path__", "/probe"),
                    ("__param_module", "http_2xx"),
                    ("__scheme__", "http"),
                    ("__scrape_interval__", "1m"),
                    ("__scrape_timeout__", "10s"),
                    ("instance", "probe:9115"),
                    ("job", "job"),
                ],
                "http://probe:9115/probe?module=http_2xx&module=b",
            )),
        },
        Case {
            name: "discovered __param_ overrides params and adds parameters",
            group: &[],
            target: &[
                ("__address__", "probe:9115"),
                ("__param_module", "tcp"),
                ("__param_target", "https://example.com/a b"),
            ],
            cfg: || ScrapeConfig {
                params: [("module".to_string(), vec!["http_2xx".to_string()])]
                    .into_iter()
                    .collect(),
                ..cfg()
            },
            want: Ok((
                &[
                    ("__address__", "probe:9115"),
                    ("__metrics_path__", "/metrics"),
                    ("__param_module", "tcp"),
                    ("__param_target", "https://example.com/a b"),
                    ("__scheme__", "http"),
                    ("__scrape_interval__", "1m"),
                    ("__scrape_timeout__", "10s"),
                    ("instance", "probe:9115"),
                    ("job", "job"),
                ],
                "http://probe:9115/metrics?module=tcp&target=https%3A%2F%2Fexample.com%2Fa+b",
            )),
        },
        Case {
            name: "missing address",
            group: &[],
            target: &[("custom", "value")],
            cfg,
            want: Err(TargetError::NoAddress),
        },
        Case {
            name: "empty address",
            group: &[],
            target: &[("__address__", "")],
            cfg,
            want: Err(TargetError::NoAddress),
        },
        Case {
            name: "address with a path",
            group: &[],
            target: &[("__address__", "host:1/metrics")],
            cfg,
            want: Err(TargetError::InvalidAddress("host:1/metrics".into())),
        },
        Case {
            name: "unparsable interval",
            group: &[],
            target: &[
                ("__address__", "h:1"),
                ("__scrape_interval__", "2notseconds"),
            ],
            cfg,
            want: Err(TargetError::BadInterval(
                "not a valid duration string: \"2notseconds\"".into(),
            )),
        },
        Case {
            name: "zero interval",
            group: &[],
            target: &[("__address__", "h:1"), ("__scrape_interval__", "0s")],
            cfg,
            want: Err(TargetError::ZeroInterval),
        },
        Case {
            name: "unparsable timeout",
            group: &[],
            target: &[
                ("__address__", "h:1"),
                ("__scrape_timeout__", "2notseconds"),
            ],
            cfg,
            want: Err(TargetError::BadTimeout(
                "not a valid duration string: \"2notseconds\"".into(),
            )),
        },
        Case {
            name: "zero timeout",
            group: &[],
            target: &[("__address__", "h:1"), ("__scrape_timeout__", "0s")],
            cfg,
            want: Err(TargetError::ZeroTimeout),
        },
        Case {
            name: "timeout above interval",
            group: &[],
            target: &[
                ("__address__", "h:1"),
                ("__scrape_interval__", "1s"),
                ("__scrape_timeout__", "2s"),
            ],
            cfg,
            want: Err(TargetError::TimeoutAboveInterval {
                timeout: "2s".into(),
                interval: "1s".into(),
            }),
        },
    ];
    let rules = Rules::compile(&[]).unwrap();
    for c in cases {
        let got = populate_labels(&map(c.group), &map(c.target), &(c.cfg)(), &rules);
        match c.want {
            Ok((labels, url)) => {
                let t = active(got);
                assert_eq!(
                    t.labels,
                    Labels::from_pairs(labels.iter().copied()),
                    "{}",
                    c.name
                );
                assert_eq!(t.url, url, "{}", c.name);
                assert_eq!(t.id, TargetId::of(&t.labels), "{}", c.name);
                assert!(
                    t.series_labels.iter().all(|l| !l.name.starts_with("__")),
                    "{}",
                    c.name
                );
            }
            Err(e) => assert_eq!(got, Err(e), "{}", c.name),
        }
    }
}

#[test]
fn discovered_labels_are_kept_before_relabeling() {
    let t = active(populate_labels(
        &map(&[("__meta_group", "g")]),
        &map(&[("__address__", "h:1")]),
        &cfg(),
        &Rules::compile(&[]).unwrap(),
    ));
    assert_eq!(t.discovered_labels.get("__meta_group"), Some("g"));
    assert_eq!(t.discovered_labels.get("job"), Some("job"));
    assert_eq!(t.labels.get("__meta_group"), None);
    assert_eq!(t.interval, Duration::from_secs(60));
    assert_eq!(t.timeout, Duration::from_secs(10));
    assert_eq!(
        t.series_labels,
        Labels::from_pairs([("instance", "h:1"), ("job", "job")])
    );
}

#[test]
fn target_id_golden_value() {
    // Pinned: every peer, on every platform and Rust version, must agree on this value.
    let l = Labels::from_pairs([
        ("__address__", "10.0.0.1:9100"),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
        ("instance", "10.0.0.1:9100"),
        ("job", "node"),
    ]);
    assert_eq!(TargetId::of(&l), TargetId(GOLDEN));
    // Meta labels do not change the identity; a probe parameter does.
    let mut b = l.to_builder();
    b.set("__meta_kubernetes_pod_name", "x");
    assert_eq!(TargetId::of(&b.build()), TargetId(GOLDEN));
    b.set("__param_target", "https://example.com");
    assert_ne!(TargetId::of(&b.build()), TargetId(GOLDEN));
}

const GOLDEN: u64 = 10_980_193_821_713_966_754;

#[test]
fn groups_dedup_and_report_errors() {
    let groups = vec![Arc::new(TargetGroup {
        source: "static/0".into(),
        targets: vec![
            map(&[("__address__", "a:1")]),
            map(&[("__address__", "a:1")]),
            map(&[("__address__", "")]),
            map(&[("__address__", "b:1")]),
        ],
        labels: map(&[("env", "prod")]),
    })];
    let out = targets_from_groups(&groups, &cfg(), &Rules::compile(&[]).unwrap());
    assert_eq!(out.active.len(), 2);
    assert_eq!(out.active[0].labels.get("env"), Some("prod"));
    assert_eq!(
        out.errors,
        vec!["instance 2 in group static/0: no address".to_string()]
    );
    assert!(out.dropped.is_empty());
}

#[test]
fn dropped_targets_are_runs_over_the_groups_and_truncate_to_the_limit() {
    use super::{DroppedRun, dropped_count, dropped_positions, truncate_dropped};
    let group = |n: usize| {
        Arc::new(crate::discovery::TargetGroup {
            targets: (0..n).map(|_| Labels::default()).collect(),
            ..Default::default()
        })
    };
    let groups = vec![group(2), group(0), group(3)];
    // Targets 1..4 span the end of group 0 and the start of group 2.
    let mut runs = vec![
        DroppedRun { start: 1, len: 3 },
        DroppedRun { start: 4, len: 1 },
    ];
    let at: Vec<(usize, usize)> = dropped_positions(&groups, &runs)
        .map(|(g, i)| (groups.iter().position(|x| Arc::ptr_eq(x, g)).unwrap(), i))
        .collect();
    assert_eq!(at, [(0, 1), (2, 0), (2, 1), (2, 2)]);
    assert_eq!(dropped_count(&runs), 4);
    truncate_dropped(&mut runs, 2);
    assert_eq!(runs, [DroppedRun { start: 1, len: 2 }]);
}

/// Groups rejected on their group labels alone are skipped whole; the result equals
/// relabeling every target one by one.
#[test]
fn groups_dropped_by_a_selector_rule_equal_relabeling_each_target() {
    use crate::discovery::TargetGroup;
    let rules_cfg: Vec<crate::relabel::RelabelConfig> = serde_yaml_ng::from_str(
        r#"
- source_labels: [job]
  target_label: __tmp_prometheus_job_name
- action: keep
  source_labels: [__meta_kubernetes_service_label_app, __meta_kubernetes_service_labelpresent_app]
  regex: (web);true
- action: keep
  source_labels: [__meta_kubernetes_endpoint_port_name]
  regex: metrics
"#,
    )
    .unwrap();
    let rules = Rules::compile(&rules_cfg).unwrap();
    let group = |n: usize, app: &str, override_app: Option<&str>| {
        let mut targets = Vec::new();
        for (i, port) in ["metrics", "other"].iter().enumerate() {
            let mut t = vec![
                ("__address__".to_string(), format!("10.0.{n}.{i}:80")),
                (
                    "__meta_kubernetes_endpoint_port_name".to_string(),
                    port.to_string(),
                ),
            ];
            if let Some(o) = override_app {
                t.push(("__meta_kubernetes_service_label_app".into(), o.into()));
            }
            targets.push(Labels::from_pairs(
                t.iter().map(|(a, b)| (a.as_str(), b.as_str())),
            ));
        }
        Arc::new(TargetGroup {
            labels: map(&[
                ("__meta_kubernetes_service_label_app", app),
                ("__meta_kubernetes_service_labelpresent_app", "true"),
            ]),
            targets,
            ..Default::default()
        })
    };
    // Rejected by the group; kept by the group; rejected by the group but a target
    // overrides the label (must be relabeled one by one).
    let groups = vec![
        group(0, "api", None),
        group(1, "web", None),
        group(2, "api", Some("web")),
    ];
    let c = cfg();
    let built = targets_from_groups(&groups, &c, &rules);
    let mut want_active = Vec::new();
    let mut want_dropped = 0;
    for g in &groups {
        for t in &g.targets {
            match populate_labels(&g.labels, t, &c, &rules).unwrap() {
                TargetOutcome::Active(t) => want_active.push(t.id),
                TargetOutcome::Dropped(_) => want_dropped += 1,
            }
        }
    }
    let got: Vec<_> = built.active.iter().map(|t| t.id).collect();
    assert_eq!(got, want_active);
    assert_eq!(got.len(), 2);
    assert_eq!(super::dropped_count(&built.dropped), want_dropped);
    assert_eq!(built.dropped.len(), 3, "runs: {:?}", built.dropped);
}
