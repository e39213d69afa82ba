//! Table tests; most cases are Prometheus' `relabel_test.go` cases, rewritten as YAML so
//! that they go through the same decoding path as a user's config.

use std::collections::BTreeMap;

use super::goregex::translate;
use super::matcher::literal_prefix;
use super::template::is_valid_name_template;
use super::*;

struct Case {
    name: &'static str,
    rules: &'static str,
    input: &'static [(&'static str, &'static str)],
    /// `None`: the set is dropped.
    want: Option<&'static [(&'static str, &'static str)]>,
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn rules(name: &str, yaml: &str) -> Rules {
    let cfgs: Vec<RelabelConfig> =
        serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{name}: {e}"));
    Rules::compile(&cfgs).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const FOO_BAR_BAZ: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];
const PORTS: &[(&str, &str)] = &[
    ("__tmp_port", "1234"),
    ("__port1", "1234"),
    ("__port2", "5678"),
];

#[rustfmt::skip]
const CASES: &[Case] = &[
    Case { name: "replace with ${1} template",
        rules: "- {source_labels: [a], regex: f(.*), target_label: d, replacement: 'ch${1}-ch${1}'}",
        input: FOO_BAR_BAZ,
        want: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]) },
    Case { name: "chained replaces see earlier results",
        rules: r#"
- {source_labels: [a, b], regex: "f(.*);(.*)r", target_label: a, replacement: "b${1}${2}m"}
- {source_labels: [c, a], regex: "(b).*b(.*)ba(.*)", target_label: d, replacement: "$1$2$2$3"}"#,
        input: FOO_BAR_BAZ,
        want: Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]) },
    Case { name: "drop stops before later rules",
        rules: "
- {source_labels: [a], regex: .*o.*, action: drop}
- {source_labels: [a], regex: f(.*), target_label: d, replacement: ch$1-ch$1}",
        input: &[("a", "foo")], want: None },
    Case { name: "drop when matching",
        rules: "- {source_labels: [a], regex: .*o.*, action: drop}",
        input: &[("a", "foo"), ("b", "bar")], want: None },
    Case { name: "drop without match keeps",
        rules: "- {source_labels: [a], regex: no-match, action: drop}",
        input: &[("a", "foo")], want: Some(&[("a", "foo")]) },
    Case { name: "regex is anchored (f|o does not match foo)",
        rules: "- {source_labels: [a], regex: f|o, action: drop}",
        input: &[("a", "foo")], want: Some(&[("a", "foo")]) },
    Case { name: "regex a does not match ab",
        rules: "- {source_labels: [a], regex: a, action: keep}",
        input: &[("a", "ab")], want: None },
    Case { name: "keep without match drops",
        rules: "- {source_labels: [a], regex: no-match, action: keep}",
        input: &[("a", "foo")], want: None },
    Case { name: "keep with match",
        rules: "- {source_labels: [a], regex: f.*, action: KEEP}",
        input: &[("a", "foo")], want: Some(&[("a", "foo")]) },
    Case { name: "keep then drop order",
        rules: "
- {source_labels: [a], regex: f.*, action: keep}
- {source_labels: [b], regex: bar, action: drop}",
        input: FOO_BAR_BAZ, want: None },
    Case { name: "regex dot matches newline",
        rules: "- {source_labels: [a], regex: .*, action: keep}",
        input: &[("a", "x\ny")], want: Some(&[("a", "x\ny")]) },
    Case { name: "replace on value with newline",
        rules: "- {source_labels: [a], regex: line1.*line2, target_label: d, replacement: 'match${1}'}",
        input: &[("a", "line1\nline2")],
        want: Some(&[("a", "line1\nline2"), ("d", "match")]) },
    Case { name: "partial group",
        rules: "- {source_labels: [a], regex: .*(b).*, target_label: d}",
        input: &[("a", "abc")], want: Some(&[("a", "abc"), ("d", "b")]) },
    Case { name: "no replacement without match",
        rules: "- {source_labels: [a], regex: f, target_label: b, replacement: bar}",
        input: &[("a", "boo")], want: Some(&[("a", "boo")]) },
    Case { name: "empty expansion deletes target",
        rules: "- {source_labels: [a], regex: (f).*, target_label: $1, replacement: $2}",
        input: &[("a", "foo"), ("f", "baz")], want: Some(&[("a", "foo")]) },
    Case { name: "missing source with defaults deletes target",
        rules: "- {source_labels: [missing], target_label: a}",
        input: &[("a", "foo"), ("b", "bar")], want: Some(&[("b", "bar")]) },
    Case { name: "defaults: regex (.*), replacement $1, separator ;",
        rules: "- {source_labels: [a, b], target_label: d}",
        input: &[("a", "foo"), ("b", "bar")],
        want: Some(&[("a", "foo"), ("b", "bar"), ("d", "foo;bar")]) },
    Case { name: "(.+) does not match an empty value",
        rules: "- {source_labels: [missing], regex: (.+), target_label: a}",
        input: &[("a", "foo")], want: Some(&[("a", "foo")]) },
    Case { name: "(.+) copies a value",
        rules: "- {source_labels: [a], regex: (.+), target_label: b, replacement: 'x$1'}",
        input: &[("a", "foo")], want: Some(&[("a", "foo"), ("b", "xfoo")]) },
    Case { name: "literal prefix respects quantifiers",
        rules: "- {source_labels: [a], regex: 'abc?', action: keep}",
        input: &[("a", "ab")], want: Some(&[("a", "ab")]) },
    Case { name: "literal prefix respects alternation",
        rules: "- {source_labels: [a], regex: 'abc|xyz', action: keep}",
        input: &[("a", "xyz")], want: Some(&[("a", "xyz")]) },
    Case { name: "constant label",
        rules: "- {target_label: env, replacement: prod}",
        input: &[("a", "foo")], want: Some(&[("a", "foo"), ("env", "prod")]) },
    Case { name: "null regex is the empty regex",
        rules: "
- source_labels: [a]
  regex:
  target_label: x
  replacement: hit
- regex:
  target_label: y
  replacement: hit",
        input: &[("a", "foo")], want: Some(&[("a", "foo"), ("y", "hit")]) },
    Case { name: "target template from groups",
        rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${2}', target_label: '${1}'}",
        input: &[("a", "some-name-value")],
        want: Some(&[("a", "some-name-value"), ("name", "value")]) },
    Case { name: "missing group in replacement expands to empty",
        rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${3}', target_label: '${1}'}",
        input: &[("a", "some-name-value"), ("name", "old")],
        want: Some(&[("a", "some-name-value")]) },
    Case { name: "empty target from template is skipped",
        rules: "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', replacement: '${1}', target_label: '${3}'}",
        input: &[("a", "some-name-0")], want: Some(&[("a", "some-name-0")]) },
    Case { name: "invalid target from template is skipped",
        rules: "- {source_labels: [a], regex: '(.*)', target_label: 'x$1', replacement: v}",
        input: &[("a", "-bad")], want: Some(&[("a", "-bad")]) },
    Case { name: "target template starting with digit is skipped",
        rules: "- {source_labels: [a], target_label: '$1', replacement: v}",
        input: &[("a", "1abc")], want: Some(&[("a", "1abc")]) },
    Case { name: "go template rules: $1x is group 1x, $$ is $, $01 is a name",
        rules: "- {source_labels: [a], regex: '(a)(?P<n>b)', target_label: t, replacement: '$1x|${1}x|$$1|$01|$n|${n}|$|${'}",
        input: &[("a", "ab")],
        want: Some(&[("a", "ab"), ("t", "|ax|$1||b|b|$|${")]) },
    Case { name: "named groups with ${name} and $name",
        rules: r#"
- {source_labels: [a], regex: "(line1).*(?<second>line2)", target_label: "label1_${1}", replacement: "val_${second}"}
- {source_labels: [a], regex: "(line1).*(?<second>line2)", target_label: "label2_$1", replacement: "val_$second"}"#,
        input: &[("a", "line1\nline2")],
        want: Some(&[("a", "line1\nline2"), ("label1_line1", "val_line2"), ("label2_line1", "val_line2")]) },
    Case { name: "service discovery tags",
        rules: r#"
- {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)path:(/[^,]+).*", replacement: "${1}", target_label: __metrics_path__}
- {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)job:([^,]+).*", replacement: "${1}", target_label: job}
- {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)label:([^=]+)=([^,]+).*", replacement: "${2}", target_label: "${1}"}"#,
        input: &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
        want: Some(&[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
            ("__metrics_path__", "/secret"), ("job", "some-job"), ("foo", "bar")]) },
    Case { name: "labeldrop then replace then keep (prometheus#12283)",
        rules: "
- {regex: ^__meta_kubernetes_pod_container_port_name$, action: labeldrop}
- {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: (.+), replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: ^metrics$, action: keep}",
        input: &[("__meta_kubernetes_pod_container_port_name", "foo"), ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091")],
        want: Some(&[("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"), ("__meta_kubernetes_pod_container_port_name", "metrics")]) },
    Case { name: "hashmod golden value",
        rules: "- {source_labels: [c], target_label: d, action: hashmod, modulus: 1000}",
        input: FOO_BAR_BAZ,
        want: Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]) },
    Case { name: "hashmod of value with newline",
        rules: "- {source_labels: [a], target_label: b, action: hashmod, modulus: 1000}",
        input: &[("a", "foo\nbar")], want: Some(&[("a", "foo\nbar"), ("b", "734")]) },
    Case { name: "labelmap with template",
        rules: "- {regex: (b.*), replacement: 'bar_${1}', action: labelmap}",
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        want: Some(&[("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")]) },
    Case { name: "labelmap default replacement",
        rules: "- {regex: __meta_(my.*), action: labelmap}",
        input: &[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")],
        want: Some(&[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc"),
            ("my_bar", "aaa"), ("my_baz", "bbb")]) },
    Case { name: "labelmap does not map labels it created",
        rules: "- {regex: x_(.*), action: labelmap}",
        input: &[("x_x_a", "1")], want: Some(&[("x_x_a", "1"), ("x_a", "1")]) },
    Case { name: "labelkeep",
        rules: "- {regex: (b.*), action: labelkeep}",
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        want: Some(&[("b1", "bar"), ("b2", "baz")]) },
    Case { name: "labeldrop",
        rules: "- {regex: (b.*), action: labeldrop}",
        input: &[("a", "foo"), ("b1", "bar"), ("b2", "baz")], want: Some(&[("a", "foo")]) },
    Case { name: "uppercase and lowercase",
        rules: "
- {source_labels: [foo], action: uppercase, target_label: foo_uppercase}
- {source_labels: [foo], action: Lowercase, target_label: foo_lowercase}",
        input: &[("foo", "bAr123Foo")],
        want: Some(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo"), ("foo_uppercase", "BAR123FOO")]) },
    Case { name: "case mapping keeps one character per character, as Go",
        rules: "
- {source_labels: [a], action: uppercase, target_label: up}
- {source_labels: [b], action: lowercase, target_label: low}",
        input: &[("a", "straße ᾳ"), ("b", "İΣ")],
        want: Some(&[("a", "straße ᾳ"), ("b", "İΣ"), ("up", "STRAßE ᾼ"), ("low", "iσ")]) },
    Case { name: "keepequal equal keeps",
        rules: "- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}",
        input: PORTS, want: Some(PORTS) },
    Case { name: "dropequal equal drops",
        rules: "- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}",
        input: PORTS, want: None },
    Case { name: "dropequal different keeps",
        rules: "- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}",
        input: PORTS, want: Some(PORTS) },
    Case { name: "keepequal different drops",
        rules: "- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}",
        input: PORTS, want: None },
    Case { name: "go \\d is ASCII only",
        rules: r"- {source_labels: [a], regex: '\d+', action: keep}",
        input: &[("a", "١٢")], want: None },
    Case { name: "go \\w and class with literal [",
        rules: r"- {source_labels: [a], regex: '\w+[[]', action: keep}",
        input: &[("a", "ab_9[")], want: Some(&[("a", "ab_9[")]) },
];

#[test]
fn relabel_cases() {
    for case in CASES {
        let rules = rules(case.name, case.rules);
        let mut b = Labels::from_pairs(case.input.iter().copied()).to_builder();
        let kept = rules.process(&mut b);
        match case.want {
            None => assert!(!kept, "{}: expected drop, got {}", case.name, b.build()),
            Some(want) => {
                assert!(kept, "{}: unexpectedly dropped", case.name);
                assert_eq!(b.build().to_map(), map(want), "{}", case.name);
            }
        }
    }
}

#[test]
fn validation_errors() {
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str)] = &[
        ("unknown action", "action: foo", r#"unknown relabel action "foo""#),
        ("empty action", "action:", "relabel action cannot be empty"),
        ("quoted empty action", "action: ''", r#"unknown relabel action """#),
        ("replace needs target", "source_labels: [a]", "relabel configuration for replace action requires 'target_label' value"),
        ("hashmod needs modulus", "{action: hashmod, target_label: x}", "relabel configuration for hashmod requires non-zero modulus"),
        ("hashmod zero modulus", "{action: hashmod, target_label: x, modulus: 0}", "relabel configuration for hashmod requires non-zero modulus"),
        ("hashmod needs target", "{action: hashmod, modulus: 2}", "relabel configuration for hashmod action requires 'target_label' value"),
        ("hashmod invalid target", "{action: hashmod, modulus: 2, target_label: a-b}", r#""a-b" is invalid 'target_label' for hashmod action"#),
        ("replace invalid target", "target_label: 1abc", r#""1abc" is invalid 'target_label' for replace action"#),
        ("replace invalid target template", "target_label: foo${", r#""foo${" is invalid 'target_label' for replace action"#),
        ("replace dotted target template", "target_label: bar.foo${1}", r#""bar.foo${1}" is invalid 'target_label' for replace action"#),
        ("lowercase needs target", "action: lowercase", "relabel configuration for lowercase action requires 'target_label' value"),
        ("uppercase invalid target", "{action: uppercase, target_label: a.b}", r#""a.b" is invalid 'target_label' for uppercase action"#),
        ("lowercase with replacement", "{action: lowercase, target_label: a, replacement: x}", "'replacement' can not be set for lowercase action"),
        ("lowercase with null replacement", "{action: lowercase, target_label: a, replacement: }", "'replacement' can not be set for lowercase action"),
        ("keepequal needs target", "{action: keepequal, source_labels: [a]}", "relabel configuration for keepequal action requires 'target_label' value"),
        ("keepequal with regex", "{action: keepequal, source_labels: [a], target_label: b, regex: (.*)}", "keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("dropequal with separator", "{action: dropequal, source_labels: [a], target_label: b, separator: ','}", "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("dropequal with modulus", "{action: dropequal, source_labels: [a], target_label: b, modulus: 3}", "dropequal action requires only 'source_labels' and `target_label`, and no other fields"),
        ("labeldrop with source labels", "{action: labeldrop, regex: a, source_labels: [a]}", "labeldrop action requires only 'regex', and no other fields"),
        ("labeldrop with empty source labels", "{action: labeldrop, regex: a, source_labels: []}", "labeldrop action requires only 'regex', and no other fields"),
        ("labelkeep with target", "{action: labelkeep, regex: a, target_label: b}", "labelkeep action requires only 'regex', and no other fields"),
        ("labelkeep with replacement", "{action: labelkeep, regex: a, replacement: b}", "labelkeep action requires only 'regex', and no other fields"),
        ("labelmap invalid replacement", "{action: labelmap, replacement: -x}", r#""-x" is invalid 'replacement' for labelmap action"#),
        ("invalid regex", "{source_labels: [a], regex: '(abc', target_label: b}", r#"error parsing regexp "(abc""#),
        ("empty source label", "{source_labels: [''], target_label: b}", r#""" is not a valid label name"#),
        ("unknown field", "{target_label: b, foo: 1}", "unknown field `foo`"),
    ];
    for (name, yaml, want) in cases {
        let err = serde_yaml_ng::from_str::<RelabelConfig>(yaml)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(want),
            "{name}: error {err:?} does not contain {want:?}"
        );
    }
}

#[test]
fn valid_configs_accepted() {
    for yaml in [
        "{action: keepequal, source_labels: [a], target_label: b, separator: ';', replacement: $1}",
        "{action: labeldrop, regex: a, separator: ';', target_label: ''}",
        "{action: labeldrop, regex: a, source_labels: }",
        "{action: lowercase, target_label: a, replacement: $1}",
        "{source_labels: [utf-8.label], target_label: d}",
        "{target_label: '${1}label'}",
        "{target_label: '_${1}_'}",
        "{action: labelmap, regex: '(.*)', replacement: 'x_${1}'}",
        "{action: replace, target_label: a, regex: '(a)(b)'}",
        // Plain YAML scalars that look like numbers or booleans are still strings.
        "{source_labels: [code], regex: 200, action: keep}",
        "{target_label: up, replacement: 1}",
        "{source_labels: [a], regex: true, action: drop}",
    ] {
        let cfg: RelabelConfig =
            serde_yaml_ng::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        Rules::compile(&[cfg]).unwrap();
    }
}

#[test]
fn yaml_error_has_location() {
    #[derive(Debug, serde::Deserialize)]
    struct Wrapper {
        #[allow(dead_code)]
        relabel_configs: Vec<RelabelConfig>,
    }
    let yaml = "relabel_configs:\n  - source_labels: [a]\n    target_label: b\n  - action: hashmod\n    target_label: c\n";
    let err = serde_yaml_ng::from_str::<Wrapper>(yaml).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("requires non-zero modulus"), "{msg}");
    let loc = err.location().expect("location");
    assert_eq!((loc.line(), loc.column()), (4, 5), "{msg}");
    assert!(msg.starts_with("relabel_configs[1]: "), "{msg}");
}

#[test]
fn compile_reports_rule_index() {
    let cfgs = vec![
        RelabelConfig {
            target_label: Some("a".into()),
            ..Default::default()
        },
        RelabelConfig {
            action: Some("hashmod".into()),
            target_label: Some("a".into()),
            ..Default::default()
        },
    ];
    let err = Rules::compile(&cfgs).unwrap_err().to_string();
    assert_eq!(
        err,
        "relabel rule 1: relabel configuration for hashmod requires non-zero modulus"
    );
}

#[test]
fn action_normalized_and_round_trips() {
    let cfg: RelabelConfig = serde_yaml_ng::from_str("{action: LabelDrop, regex: tmp_.*}").unwrap();
    assert_eq!(cfg.action.as_deref(), Some("labeldrop"));
    let again: RelabelConfig =
        serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(cfg, again);
}

#[test]
fn empty_rules_keep_everything() {
    let rules = Rules::default();
    assert!(rules.is_empty());
    let l = Labels::from_pairs([("a", "1")]);
    assert_eq!(rules.process_labels(&l), Some(l));
}

#[test]
fn legacy_name_template_validity() {
    // Prometheus' TestTargetLabelLegacyValidity.
    for (s, valid) in [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("bar.foo${1}bar", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
        ("1${a}", false),
        ("", false),
    ] {
        assert_eq!(is_valid_name_template(s), valid, "{s:?}");
    }
}

#[test]
fn go_regex_translation() {
    for (go, rust) in [
        (r"\d+", "[0-9]+"),
        (r"[\d.]", r"[[0-9].]"),
        (r"\bx\B", r"(?-u:\b)x(?-u:\B)"),
        (r"[[]", r"[\[]"),
        (r"[]a]", r"[\]a]"),
        (r"[[:alpha:]&&]", r"[[:alpha:]\&\&]"),
        (r"\Qa.b\E.", r"a\.b."),
        (r"\\d", r"\\d"),
        (r"a\.b", r"a\.b"),
    ] {
        assert_eq!(translate(go), rust, "{go}");
    }
}

#[test]
fn literal_prefixes() {
    for (pattern, prefix) in [
        (
            "__meta_kubernetes_pod_label_(.+)",
            "__meta_kubernetes_pod_label_",
        ),
        ("abc?", "ab"),
        ("ab{2}", "a"),
        ("abc|def", ""),
        ("a(b|c)", "a"),
        ("a[|]b", "a"),
        (r"a\|b", "a"),
        (r"a\\|b", ""),
        ("ab)|(cd", ""),
        ("(?i)abc", ""),
        (r"abc\d", "abc"),
        ("tmp_.*", "tmp_"),
    ] {
        assert_eq!(literal_prefix(pattern), prefix, "{pattern}");
    }
}

/// Patterns that can match one string only are compared, not compiled, for rules that
/// expand no group; the result is the regex's.
#[test]
fn literal_patterns_match_as_their_regex_would() {
    use super::matcher::Matcher;
    for (pattern, inputs) in [
        (
            "(web);true",
            &["web;true", "web;", "webx;true", "(web);true"][..],
        ),
        ("metrics", &["metrics", "metric", "metricsx", ""][..]),
        ("(a)(b)", &["ab", "a", "(a)(b)"][..]),
        ("", &["", "x"][..]),
        ("x.y", &["x.y", "xzy"][..]),
        (
            "(Failed|Succeeded)",
            &["Failed", "Succeeded", "Running"][..],
        ),
    ] {
        let fast = Matcher::compile_without_groups(pattern).unwrap();
        let slow = Matcher::compile(pattern).unwrap();
        for i in inputs {
            assert_eq!(fast.is_match(i), slow.is_match(i), "{pattern:?} on {i:?}");
        }
    }
    assert!(matches!(
        Matcher::compile_without_groups("(web);true").unwrap(),
        Matcher::Literal(_)
    ));
    assert!(Matcher::compile_without_groups("(web").is_err());
}
