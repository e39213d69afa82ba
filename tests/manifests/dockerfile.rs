//! The Dockerfile's invariants: the builder's Rust is recent enough, every bench has a
//! stub in the dependency layer, and the runtime stage is non-root with `shoal` as its
//! entrypoint and the StatefulSet's ports exposed.

use std::path::{Path, PathBuf};

use clap::Parser;
use shoal::cli::Cli;

use super::{clustered, protocol};

#[test]
fn dockerfile_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let instructions = dockerfile_instructions(&text);
    let stages: Vec<usize> = (0..instructions.len())
        .filter(|&i| instructions[i].0 == "FROM")
        .collect();
    assert!(stages.len() >= 2, "multi-stage");
    let runtime = &instructions[*stages.last().unwrap()..];
    let get = |cmd: &str| -> Vec<&str> {
        runtime
            .iter()
            .filter(|(c, _)| c == cmd)
            .map(|(_, a)| a.as_str())
            .collect()
    };

    // The builder's Rust satisfies Cargo.toml's rust-version.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let field = |line: &str, key: &str| -> Option<String> {
        let v = line.strip_prefix(key)?.trim_start().strip_prefix('=')?;
        Some(v.trim().trim_matches('"').to_owned())
    };
    let rust_version = manifest
        .lines()
        .find_map(|l| field(l, "rust-version"))
        .unwrap();
    let builder = &instructions[stages[0]].1;
    let image_version = builder
        .strip_prefix("rust:")
        .unwrap()
        .split('-')
        .next()
        .unwrap();
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        parse(image_version) >= parse(&rust_version),
        "{builder} < {rust_version}"
    );

    // Every [[bench]] has a stub, or the dependency layer does not build.
    let benches: Vec<String> = manifest
        .split("[[bench]]")
        .skip(1)
        .filter_map(|s| s.lines().find_map(|l| field(l, "name")))
        .collect();
    assert!(!benches.is_empty());
    for b in &benches {
        let stub = format!(" {b}");
        let loop_line = instructions
            .iter()
            .find(|(_, a)| a.contains("benches/$b.rs"))
            .unwrap();
        assert!(loop_line.1.contains(&stub), "no stub for bench {b}");
    }

    // The runtime stage: no toolchain, non-root, shoal as the entrypoint on PATH.
    assert!(
        get("RUN").iter().all(|r| !r.contains("cargo")),
        "cargo in the runtime stage"
    );
    let user = get("USER");
    let user = user.last().unwrap().split(':').next().unwrap();
    assert_eq!(user, "65532");
    assert_eq!(get("ENTRYPOINT"), [r#"["shoal"]"#]);
    assert!(
        get("COPY")
            .iter()
            .any(|c| c.ends_with(" /usr/local/bin/shoal"))
    );
    let exposed: Vec<&str> = get("EXPOSE")
        .iter()
        .flat_map(|e| e.split_whitespace())
        .collect();
    assert_eq!(exposed, ["9464", "7946/udp"]);
    let cmd: Vec<String> = serde_json::from_str(get("CMD").last().unwrap()).unwrap();
    let cli = Cli::try_parse_from(std::iter::once("shoal".to_owned()).chain(cmd)).unwrap();
    assert_eq!(
        cli.agent.config_file,
        Some(PathBuf::from("/etc/shoal/shoal.yml"))
    );
    // The image's ports are the StatefulSet's container ports.
    let b = clustered();
    let mut ports: Vec<String> = (b.workloads()[0].shoal().ports.iter().flatten())
        .map(|p| match protocol(&p.protocol) {
            "TCP" => p.container_port.to_string(),
            other => format!("{}/{}", p.container_port, other.to_lowercase()),
        })
        .collect();
    ports.sort();
    exposed
        .iter()
        .for_each(|e| assert!(ports.contains(&e.to_string()), "{e}"));
    assert_eq!(ports.len(), exposed.len());
}

/// (INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined,
/// comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (cmd, args) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((cmd.to_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}
