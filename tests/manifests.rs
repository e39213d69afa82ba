//! deploy/kubernetes and the Dockerfile: every manifest parses strictly into its
//! Kubernetes type, the container args parse as shoal flags, the configs pass
//! `shoal check config`, and names, labels and ports agree across objects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

#[path = "manifests/dockerfile.rs"]
mod dockerfile;
#[path = "manifests/load.rs"]
mod load;
#[path = "manifests/per_variant.rs"]
mod per_variant;
#[path = "manifests/prometheus.rs"]
mod prometheus;
#[path = "manifests/render.rs"]
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clap::Parser;
use k8s_openapi::api::core::v1::{Container, ContainerPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use shoal::cli::Cli;

use load::{Bundle, Kustomization, Workload, deploy_dir, expand, kustomization, selects};

/// The two deployment variants: (name, kustomization directory).
fn variants() -> Vec<(&'static str, PathBuf)> {
    vec![
        ("statefulset", deploy_dir()),
        ("daemonset", deploy_dir().join("daemonset")),
    ]
}

fn bundles() -> Vec<(&'static str, Kustomization, Bundle)> {
    variants()
        .into_iter()
        .map(|(name, dir)| {
            let k = kustomization(&dir);
            let b = Bundle::load(&k);
            (name, k, b)
        })
        .collect()
}

/// The clustered variant, and its one StatefulSet.
fn clustered() -> Bundle {
    let b = Bundle::load(&kustomization(&deploy_dir()));
    assert_eq!(b.stateful_sets.len(), 1);
    b
}

fn parse_cli(w: &Workload, namespace: &str) -> Cli {
    let args = w.args(namespace);
    for a in &args {
        assert!(!a.contains("$("), "{}: unexpanded variable in {a}", w.name);
    }
    let argv = std::iter::once("shoal".to_owned()).chain(args.iter().cloned());
    Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{}: {args:?}: {e}", w.name))
}

/// The container port that `port` (a number or a name) designates.
fn container_port<'c>(c: &'c Container, port: &IntOrString) -> Option<&'c ContainerPort> {
    c.ports.iter().flatten().find(|p| match port {
        IntOrString::Int(n) => p.container_port == *n,
        IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
    })
}

fn protocol(p: &Option<String>) -> &str {
    p.as_deref().unwrap_or("TCP")
}

/// The container port named `name`, as a number.
fn named_port(c: &Container, name: &str) -> u16 {
    let p = container_port(c, &IntOrString::String(name.into()));
    let p = p.unwrap_or_else(|| panic!("no container port named {name}"));
    u16::try_from(p.container_port).unwrap()
}

#[test]
fn every_manifest_is_listed_and_parses_strictly() {
    for (name, dir) in variants() {
        let k = kustomization(&dir);
        assert!(!k.files.is_empty(), "{name}");
        // Parses every file or panics naming it and the unknown field's path.
        let b = Bundle::load(&k);
        assert_eq!(b.service_accounts.len(), 1, "{name}");
        assert_eq!(b.workloads().len(), 1, "{name}");
        // No manifest beside kustomization.yaml is left out of it.
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let is_yaml = path.extension().is_some_and(|e| e == "yaml");
            if is_yaml && !path.ends_with("kustomization.yaml") {
                assert!(
                    k.files.contains(&path),
                    "{path:?} is not in {name}'s kustomization"
                );
            }
        }
    }
}

#[test]
fn unknown_fields_are_reported_with_their_path() {
    let cases = [
        (
            "top level",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\nautomount: false\n",
            "automount",
        ),
        (
            "inside a list",
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports:\n    - port: 1\n      targetPrt: 2\n",
            "spec.ports[0].targetPrt",
        ),
        (
            "deep in a pod template",
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\nspec:\n  selector: {}\n  template:\n    spec:\n      containers:\n        - name: c\n          securityContext: {readOnlyRootFilesytem: true}\n",
            "spec.template.spec.containers[0].securityContext.readOnlyRootFilesytem",
        ),
    ];
    for (case, yaml, path) in cases {
        let err = Bundle::default().add(yaml).unwrap_err();
        assert!(err.contains(path), "{case}: {err}");
    }
    let wrong_kind = "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n";
    assert!(Bundle::default().add(wrong_kind).is_err());
    let ok = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a, labels: {x: y}}\n";
    Bundle::default().add(ok).unwrap();
}

#[test]
fn kubelet_expansion() {
    let env: BTreeMap<String, String> = [("A", "x"), ("POD_IP", "10.0.0.1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let cases = [
        ("defined", "--a=$(A)", "--a=x"),
        ("twice", "$(POD_IP):$(A)", "10.0.0.1:x"),
        ("undefined kept", "--b=$(B)", "--b=$(B)"),
        ("escaped", "$$(A)", "$(A)"),
        ("lone dollar", "a$b$", "a$b$"),
        ("unclosed", "$(A", "$(A"),
    ];
    for (case, input, want) in cases {
        assert_eq!(expand(input, &env), want, "{case}");
    }
}

#[test]
fn common_labels_are_on_every_object_and_in_selectors() {
    for (name, k, b) in bundles() {
        assert_eq!(k.namespace, "monitoring", "{name}");
        let mut metas = Vec::new();
        metas.extend(b.service_accounts.iter().map(|o| &o.metadata));
        metas.extend(b.cluster_roles.iter().map(|o| &o.metadata));
        metas.extend(b.cluster_role_bindings.iter().map(|o| &o.metadata));
        metas.extend(b.config_maps.iter().map(|o| &o.metadata));
        metas.extend(b.services.iter().map(|o| &o.metadata));
        metas.extend(b.stateful_sets.iter().map(|o| &o.metadata));
        metas.extend(b.daemon_sets.iter().map(|o| &o.metadata));
        metas.extend(b.hpas.iter().map(|o| &o.metadata));
        metas.extend(b.pdbs.iter().map(|o| &o.metadata));
        metas.extend(b.network_policies.iter().map(|o| &o.metadata));
        assert_eq!(metas.len(), k.files.len(), "{name}: one object per file");
        assert!(!k.labels.is_empty(), "{name}: no common labels");
        for (pairs, include_selectors) in &k.labels {
            assert_eq!(
                pairs.get("app.kubernetes.io/name").map(String::as_str),
                Some("shoal")
            );
            // Written in the files too, so that they read the same as kustomize's output.
            for m in &metas {
                let labels = m.labels.clone().unwrap_or_default();
                for (key, v) in pairs {
                    assert_eq!(labels.get(key), Some(v), "{name}: {:?} lacks {key}", m.name);
                }
            }
            if *include_selectors {
                for w in b.workloads() {
                    let pod = w.pod_labels();
                    assert!(
                        pairs.iter().all(|(k, v)| pod.get(k) == Some(v)),
                        "{}",
                        w.name
                    );
                }
            }
        }
    }
}

#[test]
fn container_args_parse_as_shoal_flags() {
    for (name, _, b) in bundles() {
        for w in b.workloads() {
            let c = w.shoal();
            assert!(c.command.is_none(), "{name}: use the image's ENTRYPOINT");
            let cli = parse_cli(&w, &b.namespace);
            assert!(cli.command.is_none(), "{name}: runs the agent");
            let web = cli.agent.web_listen_address.port();
            assert_eq!(web, named_port(c, "web"), "{name}: --web.listen-address");
        }
    }
}

/// One workload's shoal configuration: what its `--config.file` holds, and the
/// environment it runs in.
struct ShoalConfig {
    variant: &'static str,
    key: String,
    text: String,
    env: BTreeMap<String, String>,
}

/// The configuration of every workload of both variants, found through `--config.file`,
/// the volume mounted there and the ConfigMap behind it.
fn shoal_configs() -> Vec<ShoalConfig> {
    let mut out = Vec::new();
    for (name, _, b) in bundles() {
        for w in b.workloads() {
            let cli = parse_cli(&w, &b.namespace);
            let (config_map, key) = config_source(&w, &cli);
            let cm = b
                .config_maps
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(&config_map));
            let cm = cm.unwrap_or_else(|| panic!("{name}: no ConfigMap {config_map}"));
            let data = cm.data.as_ref().and_then(|d| d.get(&key));
            let text = data.unwrap_or_else(|| panic!("{name}: {config_map} has no key {key}"));
            out.push(ShoalConfig {
                variant: name,
                key,
                text: text.clone(),
                env: w.env(&b.namespace),
            });
        }
    }
    out
}

#[test]
fn configs_pass_shoal_check_config() {
    for c in shoal_configs() {
        let name = c.variant;
        // Every ${VAR} the config uses is set in the container.
        for var in c.text.split("${").skip(1).filter_map(|s| s.split_once('}')) {
            assert!(
                c.env.contains_key(var.0),
                "{name}: ${{{}}} is not set",
                var.0
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(&c.key);
        std::fs::write(&file, &c.text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["check", "config"])
            .arg(&file)
            .env_clear()
            .envs(&c.env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {} fails check config:\n{}{}",
            c.key,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// (ConfigMap name, key) that `--config.file` reads, through the volume mounted at its
/// directory.
fn config_source(w: &Workload, cli: &Cli) -> (String, String) {
    let config_file = cli.agent.config_file.clone().expect("--config.file");
    let (dir, file) = (
        config_file.parent().unwrap(),
        config_file.file_name().unwrap(),
    );
    let mounts = w.shoal().volume_mounts.clone().unwrap_or_default();
    let mount = mounts.iter().find(|m| Path::new(&m.mount_path) == dir);
    let mount = mount.unwrap_or_else(|| panic!("{}: nothing mounted at {dir:?}", w.name));
    assert!(
        mount.sub_path.is_none(),
        "{}: a subPath mount never sees ConfigMap updates",
        w.name
    );
    assert_eq!(mount.read_only, Some(true), "{}: config mount", w.name);
    let volumes = w
        .template
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .clone()
        .unwrap_or_default();
    let volume = volumes.iter().find(|v| v.name == mount.name).unwrap();
    let cm = volume.config_map.as_ref().expect("a configMap volume");
    let file = file.to_str().unwrap().to_owned();
    // With `items`, the file name is an item's path; otherwise the key itself.
    let key = match &cm.items {
        Some(items) => items
            .iter()
            .find(|i| i.path == file)
            .map(|i| i.key.clone())
            .unwrap(),
        None => file,
    };
    (cm.name.clone(), key)
}

#[test]
fn storage_path_is_a_writable_volume() {
    for (name, _, b) in bundles() {
        for w in b.workloads() {
            let cli = parse_cli(&w, &b.namespace);
            let mounts = w.shoal().volume_mounts.clone().unwrap_or_default();
            let path = &cli.agent.storage_path;
            let mount = mounts.iter().find(|m| Path::new(&m.mount_path) == path);
            let mount = mount.unwrap_or_else(|| panic!("{name}: {path:?} is not a volume"));
            assert_ne!(mount.read_only, Some(true), "{name}");
            let volumes = w
                .template
                .spec
                .as_ref()
                .unwrap()
                .volumes
                .clone()
                .unwrap_or_default();
            let volume = volumes.iter().find(|v| v.name == mount.name);
            match w.kind {
                "StatefulSet" => {
                    let sts = &b.stateful_sets[0];
                    let claims = sts.spec.as_ref().unwrap().volume_claim_templates.clone();
                    let claim = claims
                        .unwrap_or_default()
                        .into_iter()
                        .find(|c| c.metadata.name.as_deref() == Some(mount.name.as_str()));
                    assert!(
                        claim.is_some() && volume.is_none(),
                        "{name}: a volumeClaimTemplate"
                    );
                }
                _ => {
                    let v = volume.unwrap_or_else(|| panic!("{name}: no volume {}", mount.name));
                    assert!(v.empty_dir.is_some() || v.host_path.is_some(), "{name}");
                }
            }
        }
    }
}

#[test]
fn pods_are_locked_down() {
    for (name, _, b) in bundles() {
        for w in b.workloads() {
            let pod = w.template.spec.as_ref().unwrap();
            let psc = pod.security_context.clone().unwrap();
            assert_eq!(psc.run_as_non_root, Some(true), "{name}");
            assert_eq!(psc.run_as_user, Some(65532), "{name}");
            let seccomp = psc.seccomp_profile.unwrap();
            assert_eq!(seccomp.type_, "RuntimeDefault", "{name}");
            let sc = w.shoal().security_context.clone().unwrap();
            assert_eq!(sc.run_as_non_root, Some(true), "{name}");
            assert_eq!(sc.run_as_user, Some(65532), "{name}");
            assert_eq!(sc.read_only_root_filesystem, Some(true), "{name}");
            assert_eq!(sc.allow_privilege_escalation, Some(false), "{name}");
            assert_eq!(sc.privileged, None, "{name}");
            let caps = sc.capabilities.unwrap();
            assert_eq!(caps.drop, Some(vec!["ALL".to_owned()]), "{name}");
            assert_eq!(caps.add, None, "{name}");
            let res = w.shoal().resources.clone().unwrap();
            let requests = res.requests.unwrap();
            assert!(
                requests.contains_key("cpu") && requests.contains_key("memory"),
                "{name}"
            );
            assert!(res.limits.unwrap().contains_key("memory"), "{name}");
        }
    }
}

#[test]
fn probes_use_the_health_endpoints_on_container_ports() {
    for (name, _, b) in bundles() {
        for w in b.workloads() {
            let c = w.shoal();
            let cases = [
                ("readiness", &c.readiness_probe, "/-/ready"),
                ("liveness", &c.liveness_probe, "/-/healthy"),
            ];
            for (probe, p, path) in cases {
                let get = p.as_ref().and_then(|p| p.http_get.as_ref());
                let get = get.unwrap_or_else(|| panic!("{name}: no {probe} httpGet"));
                assert_eq!(get.path.as_deref(), Some(path), "{name}: {probe}");
                let port = container_port(c, &get.port);
                let port = port.unwrap_or_else(|| panic!("{name}: {probe} port {:?}", get.port));
                assert_eq!(protocol(&port.protocol), "TCP", "{name}: {probe}");
                assert_eq!(port.name.as_deref(), Some("web"), "{name}: {probe}");
            }
        }
    }
}

#[test]
fn termination_grace_exceeds_handoff_and_flush() {
    // A scrape in flight when the peer stops may run one scrape_timeout longer.
    let scrape_timeout = Duration::from_secs(10);
    for (name, _, b) in bundles() {
        for w in b.workloads() {
            let cli = parse_cli(&w, &b.namespace);
            let handoff = match cli.agent.cluster.enabled {
                true => cli.agent.cluster.handoff_delay,
                false => Duration::ZERO,
            };
            let needed = handoff + scrape_timeout + cli.agent.flush_deadline;
            let grace = w
                .template
                .spec
                .as_ref()
                .unwrap()
                .termination_grace_period_seconds;
            let grace = Duration::from_secs(grace.unwrap().try_into().unwrap());
            assert!(grace > needed, "{name}: grace {grace:?} <= {needed:?}");
        }
    }
}

#[test]
fn rbac_is_least_privilege_and_bound_to_the_pods_account() {
    let want: BTreeMap<(&str, &str), Vec<&str>> = [
        ("", "pods"),
        ("", "services"),
        ("", "endpoints"),
        ("", "nodes"),
        ("", "namespaces"),
        ("apps", "replicasets"),
        ("batch", "jobs"),
        ("discovery.k8s.io", "endpointslices"),
        ("networking.k8s.io", "ingresses"),
    ]
    .into_iter()
    .map(|k| (k, vec!["get", "list", "watch"]))
    .collect();
    for (name, _, b) in bundles() {
        let [role] = &b.cluster_roles[..] else {
            panic!("{name}: one ClusterRole")
        };
        let mut got = BTreeMap::new();
        for rule in role.rules.iter().flatten() {
            assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
            for group in rule.api_groups.iter().flatten() {
                for res in rule.resources.iter().flatten() {
                    let verbs: Vec<&str> = rule.verbs.iter().map(String::as_str).collect();
                    let prev = got.insert((group.as_str(), res.as_str()), verbs);
                    assert!(prev.is_none(), "{name}: {group}/{res} granted twice");
                }
            }
        }
        assert_eq!(got, want, "{name}: ClusterRole rules");

        let [binding] = &b.cluster_role_bindings[..] else {
            panic!("{name}: one binding")
        };
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
        let [subject] = &binding.subjects.clone().unwrap()[..] else {
            panic!("one subject")
        };
        assert_eq!(subject.kind, "ServiceAccount");
        // kustomize sets a subject namespace of `default` to the kustomization's.
        let ns = match subject.namespace.as_deref() {
            Some("default") | None => b.namespace.as_str(),
            Some(other) => other,
        };
        assert_eq!(ns, b.namespace, "{name}: subject namespace");
        let account = b.service_accounts[0].metadata.name.clone().unwrap();
        assert_eq!(subject.name, account, "{name}");
        for w in b.workloads() {
            let pod = w.template.spec.as_ref().unwrap();
            assert_eq!(pod.service_account_name.as_ref(), Some(&account), "{name}");
        }
    }
}

#[test]
fn network_policies_admit_gossip_only_from_peers() {
    for (name, _, b) in bundles() {
        let w = &b.workloads()[0];
        let [np] = &b.network_policies[..] else {
            panic!("{name}: one NetworkPolicy")
        };
        let spec = np.spec.as_ref().unwrap();
        let pod_selector = spec.pod_selector.as_ref().unwrap();
        assert!(
            selects(pod_selector, &w.pod_labels()),
            "{name}: podSelector"
        );
        assert_eq!(
            spec.policy_types,
            Some(vec!["Ingress".to_owned()]),
            "{name}: no egress rule"
        );
        let mut admitted = Vec::new();
        for rule in spec.ingress.iter().flatten() {
            let from = rule.from.clone().unwrap_or_default();
            assert!(
                !from.is_empty(),
                "{name}: a rule without `from` admits everyone"
            );
            for port in rule.ports.iter().flatten() {
                let p = port.port.as_ref().unwrap();
                let cport = container_port(w.shoal(), p);
                let cport = cport.unwrap_or_else(|| panic!("{name}: port {p:?}"));
                assert_eq!(
                    protocol(&port.protocol),
                    protocol(&cport.protocol),
                    "{name}"
                );
                let only_peers = from.iter().all(|peer| {
                    peer.namespace_selector.is_none()
                        && peer.ip_block.is_none()
                        && peer
                            .pod_selector
                            .as_ref()
                            .is_some_and(|s| selects(s, &w.pod_labels()))
                });
                admitted.push((cport.name.clone().unwrap(), only_peers));
            }
        }
        admitted.sort();
        let want: Vec<(String, bool)> = w
            .shoal()
            .ports
            .iter()
            .flatten()
            .map(|p| {
                let n = p.name.clone().unwrap();
                let only_peers = n == "gossip";
                (n, only_peers)
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(
            admitted, want,
            "{name}: gossip from peers only, web from the cluster"
        );
    }
}
