//! `kubectl kustomize` output, where kubectl is installed: the files as written are what
//! gets applied, so every check on the files holds for the cluster.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use super::load::{Bundle, kustomization};
use super::variants;

/// `kubectl kustomize` renders each variant into exactly the objects its files hold, except
/// for what kustomize is asked to set: the namespace (of namespaced objects and of the
/// ClusterRoleBinding's ServiceAccount subject). Skipped where kubectl is not installed.
#[test]
fn kustomize_renders_the_files_as_written() {
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
        let mut written = BTreeMap::new();
        for file in &k.files {
            let v: Value =
                serde_yaml_ng::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
            written.insert(object_key(&v), v);
        }
        let out = Command::new("kubectl")
            .arg("kustomize")
            .arg(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{name}: {stderr}");
        let rendered = String::from_utf8(out.stdout).unwrap();
        let docs: Vec<&str> = rendered.split("\n---\n").collect();
        assert_eq!(docs.len(), k.files.len(), "{name}");
        for doc in docs {
            Bundle::default()
                .add(doc)
                .unwrap_or_else(|e| panic!("{name}: rendered {e}"));
            let mut v: Value = serde_yaml_ng::from_str(doc).unwrap();
            let key = object_key(&v);
            let kind = key.0.clone();
            let meta = v["metadata"].as_object_mut().unwrap();
            let ns = meta.remove("namespace");
            if kind.starts_with("Cluster") {
                assert_eq!(ns, None, "{name}: {kind}");
            } else {
                assert_eq!(
                    ns.as_ref().and_then(Value::as_str),
                    Some(k.namespace.as_str())
                );
            }
            let mut want = written
                .remove(&key)
                .unwrap_or_else(|| panic!("{name}: {key:?}"));
            if kind == "ClusterRoleBinding" {
                let subject = &mut want["subjects"][0]["namespace"];
                assert_eq!(
                    subject, "default",
                    "{name}: kustomize rewrites only `default`"
                );
                *subject = Value::from(k.namespace.as_str());
            }
            if let Some(diff) = difference(&want, &v, "") {
                panic!("{name}: kustomize changed {key:?} at {diff}");
            }
        }
        assert!(written.is_empty(), "{name}: not rendered: {written:?}");
    }
}

/// (kind, name) of a manifest.
fn object_key(v: &Value) -> (String, String) {
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    (s(&v["kind"]), s(&v["metadata"]["name"]))
}

/// The path of the first place where `rendered` differs from `written`, if any.
fn difference(written: &Value, rendered: &Value, path: &str) -> Option<String> {
    match (written, rendered) {
        (Value::Object(w), Value::Object(r)) => {
            let keys: std::collections::BTreeSet<&String> = w.keys().chain(r.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = format!("{path}.{k}");
                match (w.get(k), r.get(k)) {
                    (Some(a), Some(b)) => difference(a, b, &p),
                    (a, b) => Some(format!("{p}: {a:?} became {b:?}")),
                }
            })
        }
        (Value::Array(w), Value::Array(r)) if w.len() == r.len() => w
            .iter()
            .zip(r)
            .enumerate()
            .find_map(|(i, (a, b))| difference(a, b, &format!("{path}[{i}]"))),
        (w, r) if w == r => None,
        (w, r) => Some(format!("{path}: {w} became {r}")),
    }
}
