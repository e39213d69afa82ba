//! Scrape cache: labels, staleness, limits, synthetic series. No network, no clock.

use super::*;
use crate::series::{STALE_NAN_BITS, is_stale_nan};

const T1: i64 = 1_000_000;
const T2: i64 = 1_010_000;
const T3: i64 = 1_020_000;

fn ctx() -> SeriesContext {
    SeriesContext {
        target_labels: Arc::new(Labels::from_pairs([("instance", "h:1"), ("job", "j")])),
        honor_labels: false,
        honor_timestamps: true,
        metric_rules: Arc::new(Rules::compile(&[]).unwrap()),
        limits: Limits::default(),
    }
}

fn scrape(
    cache: &mut ScrapeCache,
    ctx: &SeriesContext,
    body: &str,
    ts: i64,
) -> (Vec<Sample>, ScrapeOutcome) {
    let mut out = Vec::new();
    let f = Fetched {
        body: body.as_bytes(),
        content_type: Some("text/plain; version=0.0.4"),
    };
    let o = cache.process(ctx, Ok(f), ts, || Duration::from_millis(250), &mut out);
    (out, o)
}

fn fail(cache: &mut ScrapeCache, ctx: &SeriesContext, ts: i64) -> (Vec<Sample>, ScrapeOutcome) {
    let mut out = Vec::new();
    let err = ScrapeError::Status("500 Internal Server Error".into());
    let o = cache.process(ctx, Err(err), ts, || Duration::from_millis(5), &mut out);
    (out, o)
}

/// `(labels, value)` of every sample whose metric name is `name`, as text.
fn find(out: &[Sample], name: &str) -> Vec<(String, f64, i64)> {
    out.iter()
        .filter(|s| s.series.labels().metric_name() == Some(name))
        .map(|s| (s.series.labels().to_string(), s.value, s.timestamp))
        .collect()
}

fn one(out: &[Sample], name: &str) -> f64 {
    let v = find(out, name);
    assert_eq!(v.len(), 1, "{name} in {out:?}");
    v[0].1
}

fn stale_names(out: &[Sample]) -> Vec<String> {
    let mut v: Vec<String> = out
        .iter()
        .filter(|s| is_stale_nan(s.value))
        .map(|s| s.series.labels().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn steady_state_reuses_series() {
    let c = ctx();
    let mut cache = ScrapeCache::new(&c.target_labels);
    let body = "# TYPE a gauge\na{x=\"1\"} 1\nb 2\n";
    let (out1, o1) = scrape(&mut cache, &c, body, T1);
    assert_eq!(o1.error, None);
    assert_eq!(
        o1.stats,
        ScrapeStats {
            scraped: 2,
            post_relabel: 2,
            series_added: 2
        }
    );
    assert_eq!(
        find(&out1, "a"),
        vec![(
            r#"{__name__="a", instance="h:1", job="j", x="1"}"#.to_string(),
            1.0,
            T1
        )]
    );
    assert_eq!(one(&out1, "up"), 1.0);
    assert_eq!(one(&out1, "scrape_duration_seconds"), 0.25);
    assert_eq!(one(&out1, "scrape_samples_scraped"), 2.0);
    assert_eq!(one(&out1, "scrape_samples_post_metric_relabeling"), 2.0);
    assert_eq!(one(&out1, "scrape_series_added"), 2.0);
    let (out2, o2) = scrape(&mut cache, &c, body, T2);
    assert_eq!(o2.stats.series_added, 0);
    assert!(Series::ptr_eq(&out1[0].series, &out2[0].series));
    assert_eq!(out2[0].timestamp, T2);
    assert!(stale_names(&out2).is_empty());
    assert_eq!(cache.len(), 2);
}

#[test]
fn vanished_series_get_one_marker() {
    let c = ctx();
    let mut cache = ScrapeCache::new(&c.target_labels);
    scrape(&mut cache, &c, "a 1\nb 2\n", T1);
    let (out, _) = scrape(&mut cache, &c, "a 1\n", T2);
    assert_eq!(
        stale_names(&out),
        vec![r#"{__name__="b", instance="h:1", job="j"}"#]
    );
    assert_eq!(find(&out, "b")[0].2, T2);
    let (out, _) = scrape(&mut cache, &c, "a 1\n", T3);
    assert!(stale_names(&out).is_empty());
    assert_eq!(cache.len(), 1);
}

#[test]
fn failed_scrape_marks_everything_stale_once() {
    let c = ctx();
    let mut cache = ScrapeCache::new(&c.target_labels);
    let (first, _) = scrape(&mut cache, &c, "a 1\nb 2\n", T1);
    let (out, o) = fail(&mut cache, &c, T2);
    assert_eq!(
        o.error.unwrap().to_string(),
        "server returned HTTP status 500 Internal Server Error"
    );
    assert_eq!(o.stats, ScrapeStats::default());
    assert_eq!(stale_names(&out).len(), 2);
    assert_eq!(one(&out, "up"), 0.0);
    assert_eq!(one(&out, "scrape_samples_scraped"), 0.0);
    assert_eq!(one(&out, "scrape_duration_seconds"), 0.005);
    // A second failure writes no more markers.
    let (out, _) = fail(&mut cache, &c, T3);
    assert!(stale_names(&out).is_empty());
    // Recovery: same series identities, no markers for series not back.
    let (out, o) = scrape(&mut cache, &c, "a 1\n", T3 + 10_000);
    assert_eq!(o.stats.series_added, 0);
    assert!(Series::ptr_eq(&first[0].series, &out[0].series));
    assert!(stale_names(&out).is_empty());
    assert_eq!(cache.len(), 1);
}

#[test]
fn parse_error_mid_body_keeps_no_partial_samples() {
    let c = ctx();
    let mut cache = ScrapeCache::new(&c.target_labels);
    scrape(&mut cache, &c, "a 1\nb 2\n", T1);
    let (out, o) = scrape(&mut cache, &c, "a 1\nnew 3\nbroken{ 1\n", T2);
    assert_eq!(o.error.as_ref().map(ScrapeError::reason), Some("parse"));
    assert!(find(&out, "new").is_empty());
    // Both live series, including `a` which this body had already exposed, are marked.
    assert_eq!(stale_names(&out).len(), 2);
    assert!(
        find(&out, "a")
            .iter()
            .all(|s| s.1.to_bits() == STALE_NAN_BITS)
    );
    assert_eq!(one(&out, "up"), 0.0);
}

#[test]
fn end_of_target_marks_series_and_synthetic_series() {
    let c = ctx();
    let mut cache = ScrapeCache::new(&c.target_labels);
    scrape(&mut cache, &c, "a 1\n", T1);
    let mut out = Vec::new();
    cache.end_of_target(T2, &mut out);
    let names: Vec<_> = out
        .iter()
        .map(|s| s.series.labels().metric_name().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "a",
            "up",
            "scrape_duration_seconds",
            "scrape_samples_scraped",
            "scrape_samples_post_metric_relabeling",
            "scrape_series_added"
        ]
    );
    assert!(
        out.iter()
            .all(|s| is_stale_nan(s.value) && s.timestamp == T2)
    );
    assert!(cache.is_empty());
}

#[test]
fn end_of_target_after_failure_marks_only_synthetic_series() {
    let c = ctx();
    let mut cache = ScrapeCache::new(&c.target_labels);
    scrape(&mut cache, &c, "a 1\n", T1);
    fail(&mut cache, &c, T2);
    let mut out = Vec::new();
    cache.end_of_target(T3, &mut out);
    assert_eq!(out.len(), 5);
    assert!(find(&out, "a").is_empty());
}

#[test]
fn honor_timestamps() {
    for (honor, want_ts, want_markers) in [(true, 42, 0), (false, T1, 1)] {
        let c = SeriesContext {
            honor_timestamps: honor,
            ..ctx()
        };
        let mut cache = ScrapeCache::new(&c.target_labels);
        let (out, _) = scrape(&mut cache, &c, "a 1 42\n", T1);
        assert_eq!(find(&out, "a")[0].2, want_ts, "honor={honor}");
        // Series with their own timestamps get no staleness markers (as in Prometheus).
        let (out, _) = scrape(&mut cache, &c, "", T2);
        assert_eq!(stale_names(&out).len(), want_markers, "honor={honor}");
    }
}

#[test]
fn nan_from_target_is_not_a_stale_marker() {
    let c = ctx();
    let mut cache = ScrapeCache::new(&c.target_labels);
    let (out, _) = scrape(&mut cache, &c, "a NaN\n", T1);
    let v = find(&out, "a")[0].1;
    assert!(v.is_nan());
    assert!(!is_stale_nan(v));
}

#[test]
fn duplicate_series_in_one_scrape_keeps_the_first() {
    let c = ctx();
    let mut cache = ScrapeCache::new(&c.target_labels);
    let (out, o) = scrape(&mut cache, &c, "a 1\na 2\n", T1);
    assert_eq!(find(&out, "a").len(), 1);
    assert_eq!(find(&out, "a")[0].1, 1.0);
    assert_eq!(o.stats.scraped, 2);
}

#[test]
fn limits_fail_the_scrape() {
    struct Case {
        name: &'static str,
        limits: Limits,
        body: &'static str,
        error: &'static str,
    }
    let cases = [
        Case {
            name: "sample_limit counts samples kept",
            limits: Limits {
                sample_limit: 2,
                ..Default::default()
            },
            body: "a 1\nb 1\nc 1\n",
            error: "sample limit exceeded (limit: 2)",
        },
        Case {
            name: "label_limit counts the final labels",
            limits: Limits {
                label_limit: 4,
                ..Default::default()
            },
            body: "a{x=\"1\",y=\"2\"} 1\n",
            error: r#"label_limit exceeded (metric: a{x="1",y="2"}, number of labels: 5, limit: 4)"#,
        },
        Case {
            name: "label_name_length_limit",
            limits: Limits {
                label_name_length_limit: 8,
                ..Default::default()
            },
            body: "a{averylongname=\"1\"} 1\n",
            error: r#"label_name_length_limit exceeded (metric: a{averylongname="1"}, label name: averylongname, length: 13, limit: 8)"#,
        },
        Case {
            name: "label_value_length_limit",
            limits: Limits {
                label_value_length_limit: 3,
                ..Default::default()
            },
            body: "a{x=\"long\"} 1\n",
            error: r#"label_value_length_limit exceeded (metric: a{x="long"}, label name: x, value: "long", length: 4, limit: 3)"#,
        },
        Case {
            name: "repeated label name",
            limits: Limits::default(),
            body: "a{x=\"1\",x=\"2\"} 1\n",
            error: r#"repeated label name "x" in series a{x="1",x="2"}"#,
        },
    ];
    for case in cases {
        let c = SeriesContext {
            limits: case.limits,
            ..ctx()
        };
        let mut cache = ScrapeCache::new(&c.target_labels);
        let (out, o) = scrape(&mut cache, &c, case.body, T1);
        let err = o.error.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, case.error, "{}", case.name);
        assert_eq!(one(&out, "up"), 0.0, "{}", case.name);
        assert_eq!(out.len(), 5, "{}: only synthetic series", case.name);
    }
}

#[test]
fn exported_label_naming() {
    struct Case {
        name: &'static str,
        honor: bool,
        exposed: &'static [(&'static str, &'static str)],
        want: &'static str,
    }
    let cases = [
        Case {
            name: "clash renamed, target label wins",
            honor: false,
            exposed: &[("job", "exposed")],
            want: r#"{exported_job="exposed", instance="h:1", job="j"}"#,
        },
        Case {
            name: "prefix repeated while taken",
            honor: false,
            exposed: &[("job", "a"), ("exported_job", "b")],
            want: r#"{exported_exported_job="a", exported_job="b", instance="h:1", job="j"}"#,
        },
        Case {
            name: "empty exposed value is no clash",
            honor: false,
            exposed: &[("job", "")],
            want: r#"{instance="h:1", job="j"}"#,
        },
        Case {
            name: "honor_labels keeps the exposed value",
            honor: true,
            exposed: &[("job", "exposed")],
            want: r#"{instance="h:1", job="exposed"}"#,
        },
        Case {
            name: "honor_labels with an empty exposed value removes the label",
            honor: true,
            exposed: &[("job", "")],
            want: r#"{instance="h:1"}"#,
        },
    ];
    let target = Labels::from_pairs([("instance", "h:1"), ("job", "j")]);
    for c in cases {
        let exposed: Vec<(Cow<'_, str>, Cow<'_, str>)> = c
            .exposed
            .iter()
            .map(|(n, v)| (Cow::Borrowed(*n), Cow::Borrowed(*v)))
            .collect();
        let mut lb = LabelsBuilder::new();
        for (n, v) in &exposed {
            lb.set(n, v);
        }
        merge_target_labels(&mut lb, &exposed, &target, c.honor);
        assert_eq!(lb.build().to_string(), c.want, "{}", c.name);
    }
}

#[test]
fn synthetic_series_ignore_honor_labels() {
    let c = SeriesContext {
        honor_labels: true,
        ..ctx()
    };
    let mut cache = ScrapeCache::new(&c.target_labels);
    let (out, _) = scrape(&mut cache, &c, "up{job=\"other\"} 7\n", T1);
    let ups = find(&out, "up");
    assert_eq!(ups.len(), 2);
    assert!(ups.contains(&(
        r#"{__name__="up", instance="h:1", job="other"}"#.into(),
        7.0,
        T1
    )));
    assert!(ups.contains(&(
        r#"{__name__="up", instance="h:1", job="j"}"#.into(),
        1.0,
        T1
    )));
}
