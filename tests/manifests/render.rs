//! `kubectl kustomize` output, where kubectl is installed.

use std::process::Command;

use super::load::{Bundle, kustomization};
use super::{parse_cli, variants};

/// `kubectl kustomize` renders both variants into the objects the files hold, in the
/// kustomization's namespace. Skipped where kubectl is not installed.
#[test]
fn kustomize_renders_when_kubectl_is_installed() {
    let Ok(version) = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
    else {
        eprintln!("kubectl not found: skipping the kustomize rendering check");
        return;
    };
    assert!(version.status.success());
    for (name, dir) in variants() {
        let k = kustomization(&dir);
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let rendered = String::from_utf8(out.stdout).unwrap();
        let mut b = Bundle::default();
        let docs: Vec<&str> = rendered.split("\n---\n").collect();
        assert_eq!(docs.len(), k.files.len(), "{name}");
        for doc in docs {
            b.add(doc)
                .unwrap_or_else(|e| panic!("{name}: rendered {e}"));
            let v: serde_json::Value = serde_yaml_ng::from_str(doc).unwrap();
            let kind = v["kind"].as_str().unwrap();
            let ns = v["metadata"]["namespace"].as_str();
            if kind.starts_with("Cluster") {
                assert_eq!(ns, None, "{name}: {kind}");
            } else {
                assert_eq!(ns, Some(k.namespace.as_str()), "{name}: {kind}");
            }
        }
        let subject = b.cluster_role_bindings[0].subjects.clone().unwrap()[0].clone();
        assert_eq!(
            subject.namespace.as_deref(),
            Some(k.namespace.as_str()),
            "{name}"
        );
        // The rendered workload's args still parse (kustomize may not touch them).
        parse_cli(&b.workloads()[0], &k.namespace);
    }
}
