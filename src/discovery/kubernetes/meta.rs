//! Label helpers shared by every role: the `__meta_kubernetes_` prefix, Prometheus'
//! `strutil.SanitizeLabelName`, object metadata labels, `host:port` joining.

use std::collections::BTreeMap;

use super::objects::{Meta, NodeInfo};
use crate::discovery::{TargetGroup, labels_of};

/// Prefix of every label this discovery sets.
pub(crate) const PREFIX: &str = "__meta_kubernetes_";
/// `__meta_kubernetes_namespace`.
pub(crate) const NAMESPACE: &str = "__meta_kubernetes_namespace";
/// The value of `*_present` labels.
const PRESENT: &str = "true";

/// One label set (a group's or a target's).
pub(crate) type LabelMap = BTreeMap<String, String>;

/// Replaces every character outside `[a-zA-Z0-9_]` with `_`, as Prometheus'
/// `strutil.SanitizeLabelName` does.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Sets `name` to `value`; an empty value is left out (Prometheus drops empty labels when
/// it builds targets, so they never show).
pub(crate) fn put(ls: &mut LabelMap, name: impl Into<String>, value: &str) {
    if !value.is_empty() {
        ls.insert(name.into(), value.to_string());
    }
}

/// `__meta_kubernetes_<suffix>` = value (left out when empty).
pub(crate) fn put_meta(ls: &mut LabelMap, suffix: &str, value: &str) {
    if !value.is_empty() {
        ls.insert(format!("{PREFIX}{suffix}"), value.to_string());
    }
}

/// Prometheus' `addObjectMetaLabels`: `<role>_name`, then [`labels_and_annotations`].
pub(crate) fn object_meta_labels(ls: &mut LabelMap, meta: &Meta, role: &str) {
    put(ls, format!("{PREFIX}{role}_name"), &meta.name);
    labels_and_annotations(ls, meta, role);
}

/// Prometheus' `addObjectAnnotationsAndLabels`: `<role>_label_*`, `<role>_labelpresent_*`,
/// `<role>_annotation_*`, `<role>_annotationpresent_*`.
fn labels_and_annotations(ls: &mut LabelMap, meta: &Meta, role: &str) {
    for (k, v) in &meta.labels {
        let ln = sanitize(k);
        put(ls, format!("{PREFIX}{role}_label_{ln}"), v);
        ls.insert(format!("{PREFIX}{role}_labelpresent_{ln}"), PRESENT.into());
    }
    for (k, v) in &meta.annotations {
        let ln = sanitize(k);
        put(ls, format!("{PREFIX}{role}_annotation_{ln}"), v);
        ls.insert(
            format!("{PREFIX}{role}_annotationpresent_{ln}"),
            PRESENT.into(),
        );
    }
}

/// Prometheus' `addNodeLabels`: the node's name, labels and annotations, when it is known.
pub(crate) fn node_labels(ls: &mut LabelMap, node: Option<&NodeInfo>) {
    if let Some(n) = node {
        object_meta_labels(ls, &n.meta, "node");
    }
}

/// Prometheus' `addNamespaceLabels`: the namespace's labels and annotations, when it is
/// known (no `namespace_name`: `__meta_kubernetes_namespace` already says it).
pub(crate) fn namespace_labels(ls: &mut LabelMap, namespace: Option<&Meta>) {
    if let Some(n) = namespace {
        labels_and_annotations(ls, n, "namespace");
    }
}

/// Go's `net.JoinHostPort`: brackets around hosts that contain a colon (IPv6).
pub(crate) fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Prometheus' `to = to.Merge(from)`: every label of `from` is set on `to`, `from` winning.
pub(crate) fn merge_into(to: &mut LabelMap, from: LabelMap) {
    for (k, v) in from {
        to.insert(k, v);
    }
}

/// A group from label maps, in the compact form the pipeline keeps.
pub(crate) fn group(source: String, targets: Vec<LabelMap>, labels: &LabelMap) -> TargetGroup {
    TargetGroup {
        source,
        targets: targets.iter().map(labels_of).collect(),
        labels: labels_of(labels),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sanitize_like_prometheus() {
        let cases = [
            ("app.kubernetes.io/name", "app_kubernetes_io_name"),
            ("plain_name9", "plain_name9"),
            ("ünïcode-x", "_n_code_x"),
        ];
        for (input, want) in cases {
            assert_eq!(super::sanitize(input), want, "{input}");
        }
    }

    #[test]
    fn host_port() {
        assert_eq!(super::join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(super::join_host_port("fd00::1", 80), "[fd00::1]:80");
    }
}
