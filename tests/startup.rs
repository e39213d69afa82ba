//! Start-up failures: each makes shoal exit non-zero at once with one line on stderr
//! that says what is wrong (and where, for a config error).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::shoal::binary;

/// How long a failing start may take.
const FAIL_WITHIN: Duration = Duration::from_secs(20);

/// Runs shoal with `args` in `dir`; returns (exit code, stderr). Panics if it is still
/// running after [`FAIL_WITHIN`] (it was supposed to fail).
fn run_failing(dir: &Path, args: &[String]) -> (Option<i32>, String) {
    let stderr_path = dir.join("stderr.txt");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + FAIL_WITHIN;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "shoal {args:?} still running after {FAIL_WITHIN:?}; stderr:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.code(),
        std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    )
}

/// Asserts a non-zero exit and exactly one stderr line containing every `want`.
fn assert_fails_with(case: &str, (code, stderr): (Option<i32>, String), want: &[&str]) {
    assert!(
        code.is_some_and(|c| c != 0),
        "{case}: exit code {code:?}, stderr:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "{case}: one line expected on stderr:\n{stderr}"
    );
    for w in want {
        assert!(lines[0].contains(w), "{case}: {w:?} not in {:?}", lines[0]);
    }
    assert!(lines[0].contains("level=error"), "{case}: {:?}", lines[0]);
}

/// Flags shared by the cases: a free port and a storage dir inside `dir`.
fn flags(dir: &Path, config: Option<&Path>) -> Vec<String> {
    let mut args = vec![
        format!("--storage.path={}", dir.join("data").display()),
        format!(
            "--web.listen-address=127.0.0.1:{}",
            common::free_port("127.0.0.1")
        ),
    ];
    if let Some(c) = config {
        args.push(format!("--config.file={}", c.display()));
    }
    args
}

fn valid_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("shoal.yml");
    std::fs::write(
        &path,
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: ['127.0.0.1:1']\n",
    )
    .unwrap();
    path
}

#[test]
fn missing_config_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_failing(dir.path(), &flags(dir.path(), None));
    assert_fails_with("no --config.file", out, &["--config.file is required"]);
}

#[test]
fn config_file_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yml");
    let out = run_failing(dir.path(), &flags(dir.path(), Some(&missing)));
    assert_fails_with(
        "missing file",
        out,
        &["cannot read", "missing.yml", "No such file"],
    );
}

#[test]
fn unreadable_config_file() {
    // A directory cannot be read as a file, whoever runs the test (root reads any mode).
    let dir = tempfile::tempdir().unwrap();
    let not_a_file = dir.path().join("config.yml");
    std::fs::create_dir(&not_a_file).unwrap();
    let out = run_failing(dir.path(), &flags(dir.path(), Some(&not_a_file)));
    assert_fails_with("unreadable config", out, &["cannot read", "config.yml"]);
}

#[test]
fn invalid_config_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: '('\n        action: drop\n",
    )
    .unwrap();
    let out = run_failing(dir.path(), &flags(dir.path(), Some(&path)));
    assert_fails_with(
        "invalid config",
        out,
        &["bad.yml:6:", "error parsing regexp", "unclosed group"],
    );
}

#[test]
fn storage_path_that_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let config = valid_config(dir.path());
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let mut args = flags(dir.path(), Some(&config));
    args[0] = format!("--storage.path={}", file.join("data").display());
    let out = run_failing(dir.path(), &args);
    assert_fails_with(
        "storage under a file",
        out,
        &["cannot create storage directory", "a-file"],
    );
}

#[test]
fn read_only_storage_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = valid_config(dir.path());
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root writes through any mode; /proc/self is a directory nobody can create files in.
    let ro = if std::fs::write(ro.join("probe"), "x").is_ok() {
        std::path::PathBuf::from("/proc/self")
    } else {
        ro
    };
    let mut args = flags(dir.path(), Some(&config));
    args[0] = format!("--storage.path={}", ro.display());
    let out = run_failing(dir.path(), &args);
    assert_fails_with("read-only storage", out, &["is not writable"]);
}

#[test]
fn listen_address_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let config = valid_config(dir.path());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut args = flags(dir.path(), Some(&config));
    args[1] = format!("--web.listen-address={addr}");
    let out = run_failing(dir.path(), &args);
    assert_fails_with("port taken", out, &["cannot listen on", &addr, "in use"]);
}

/// SIGINT the moment `/-/ready` answers 200 is a graceful stop (exit 0): the signal
/// handlers are in place before the agent reports ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_right_after_ready_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(valid_config(dir.path())).unwrap();
    let mut shoal = common::Shoal::start(&config).await;
    shoal.stop().await;
}
