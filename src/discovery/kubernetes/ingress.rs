//! Role `ingress`: one target per host and path of each rule (Prometheus'
//! `discovery/kubernetes/ingress.go`).

use super::lookup::{Attach, Lookup};
use super::meta::{self, LabelMap, NAMESPACE, put, put_meta};
use super::objects::IngressInfo;
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// The group of one ingress.
pub(crate) fn build(ing: &IngressInfo, lookup: &dyn Lookup, attach: Attach) -> TargetGroup {
    let mut labels = LabelMap::new();
    put(&mut labels, NAMESPACE, &ing.meta.namespace);
    if let Some(c) = &ing.class_name {
        put_meta(&mut labels, "ingress_class_name", c);
    }
    meta::object_meta_labels(&mut labels, &ing.meta, "ingress");
    if attach.namespace {
        meta::namespace_labels(
            &mut labels,
            lookup.namespace(&ing.meta.namespace).as_deref(),
        );
    }
    let mut targets = Vec::new();
    for (host, paths) in &ing.rules {
        let scheme = if ing
            .tls_hosts
            .iter()
            .any(|pattern| matches_hostname_pattern(pattern, host))
        {
            "https"
        } else {
            "http"
        };
        let paths: Vec<&str> = match paths {
            None => vec!["/"],
            Some(p) => p
                .iter()
                .map(|p| if p.is_empty() { "/" } else { p.as_str() })
                .collect(),
        };
        for path in paths {
            let mut t = LabelMap::new();
            put(&mut t, ADDRESS_LABEL, host);
            put_meta(&mut t, "ingress_scheme", scheme);
            put_meta(&mut t, "ingress_host", host);
            put_meta(&mut t, "ingress_path", path);
            targets.push(t);
        }
    }
    super::meta::group(
        format!("ingress/{}/{}", ing.meta.namespace, ing.meta.name),
        targets,
        &labels,
    )
}

/// Prometheus' `matchesHostnamePattern`: equal, or a pattern `*.rest` whose labels after the
/// first equal the host's (same number of labels, so `*` stands for exactly one).
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let mut p = pattern.split('.');
    if p.next() != Some("*") {
        return false;
    }
    let mut h = host.split('.');
    h.next();
    p.eq(h)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hostname_patterns_like_prometheus() {
        let cases = [
            ("a.example.test", "a.example.test", true),
            ("*.example.test", "a.example.test", true),
            (
                "*.internal.example.test",
                "admin.internal.example.test",
                true,
            ),
            ("*.example.test", "a.b.example.test", false),
            ("*.example.test", "example.test", false),
            ("a.*.test", "a.b.test", false),
            ("*", "localhost", true),
            ("*", "a.b", false),
            ("*.example.test", "", false),
            ("", "", true),
        ];
        for (pattern, host, want) in cases {
            assert_eq!(
                super::matches_hostname_pattern(pattern, host),
                want,
                "{pattern} vs {host}"
            );
        }
    }
}
