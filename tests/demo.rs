//! `shoal demo` end to end, without a terminal: it starts its peers, adds and removes one
//! on its timer, stops at `--demo.duration`, reports no missing and no duplicate slot,
//! exits 0 and leaves no peer process or port behind, even when it is SIGKILLed. On a
//! terminal (a pty here) the keys `a`, `r` and `q` add, remove and quit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Demo duration plus start-up, shutdown (handoff, flush) and a loaded machine.
const EXIT_DEADLINE: Duration = Duration::from_secs(120);
/// Bound for the peers to be up, or to be gone after the demo died.
const PEERS_DEADLINE: Duration = Duration::from_secs(30);

/// `key=value` fields of a status, event or summary line.
fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .collect()
}

fn num(f: &BTreeMap<&str, &str>, key: &str) -> u64 {
    f.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number {key} in {f:?}"))
}

/// One demo at a time: each runs 3-4 peers, and the machine may be small.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn demo_churns_peers_without_missing_or_duplicate_slots_and_cleans_up() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["demo", "--demo.duration=40s", "--demo.churn-interval=12s"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > EXIT_DEADLINE {
            // SIGKILL: the peers die with it (PR_SET_PDEATHSIG).
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "demo did not exit within {EXIT_DEADLINE:?}; stdout:\n{}",
                std::fs::read_to_string(&out_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&out_path).unwrap();
    let err = std::fs::read_to_string(&err_path).unwrap();
    let context = format!("stdout:\n{out}\nstderr:\n{err}");
    assert!(status.success(), "demo exited with {status}; {context}");

    // One status line per second while running, parseable; once the peers are up, every
    // target has one owner and the peers agree (between membership changes; a loaded
    // machine may delay answers, so this is asked of a few lines, not all).
    let statuses: Vec<BTreeMap<&str, &str>> = out
        .lines()
        .filter(|l| l.starts_with("status "))
        .map(fields)
        .collect();
    assert!(
        statuses.len() >= 20,
        "{} status lines; {context}",
        statuses.len()
    );
    let settled = statuses
        .iter()
        .filter(|f| num(f, "owned") == num(f, "targets") && num(f, "views") == 1)
        .count();
    assert!(
        settled >= 5,
        "{settled} status lines show one owner per target; {context}"
    );

    let summary = out
        .lines()
        .find(|l| l.starts_with("summary "))
        .map(fields)
        .unwrap_or_else(|| panic!("no summary line; {context}"));
    eprintln!("{summary:?}");
    assert_eq!(num(&summary, "seen"), num(&summary, "targets"), "{context}");
    assert!(num(&summary, "slots") > 100, "{context}");
    for zero in ["missing", "duplicate", "off_grid", "failed"] {
        assert_eq!(num(&summary, zero), 0, "{zero}; {context}");
    }
    assert!(num(&summary, "added") >= 1, "{context}");
    assert!(num(&summary, "removed") >= 1, "{context}");

    // Every peer it started is gone, and so are its web ports.
    let peers: Vec<BTreeMap<&str, &str>> = out
        .lines()
        .filter(|l| l.contains(" started ") || l.contains(" added "))
        .map(fields)
        .collect();
    assert!(peers.len() >= 4, "{context}");
    for p in &peers {
        let pid = num(p, "pid");
        let exited = format!("exited peer={} pid={pid} ", p["peer"]);
        assert!(out.contains(&exited), "no exit of {p:?}; {context}");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains("--cluster.node-name=peer-"),
            "peer {p:?} still runs; {context}"
        );
        let web: SocketAddr = p["web"].parse().unwrap();
        assert!(
            TcpStream::connect_timeout(&web, Duration::from_millis(500)).is_err(),
            "{web} of {p:?} still accepts connections"
        );
    }
    let setup = out
        .lines()
        .find(|l| l.contains(" setup "))
        .map(fields)
        .unwrap();
    assert!(
        !std::path::Path::new(setup["dir"]).exists(),
        "work dir {} left behind",
        setup["dir"]
    );
}

/// Whether `pid` is a live process (a zombie waiting for init to reap it is not).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // `pid (comm) STATE ...`; comm may hold spaces, so read after the last ')'.
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

#[test]
fn sigkilled_demo_takes_its_peers_along() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("stdout");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["demo", "--demo.churn-interval=0"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&out_path).unwrap_or_default();
    let start = Instant::now();
    // Up: a status line with 3 participants.
    while !read()
        .lines()
        .any(|l| l.starts_with("status ") && l.contains(" participants=3 "))
    {
        if start.elapsed() > PEERS_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "peers not up within {PEERS_DEADLINE:?}; stdout:\n{}",
                read()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = read();
    let pids: Vec<u64> = out
        .lines()
        .filter(|l| l.contains(" started "))
        .map(|l| num(&fields(l), "pid"))
        .collect();
    assert_eq!(pids.len(), 3, "{out}");
    assert!(pids.iter().all(|p| alive(*p)), "{out}");

    // No chance to clean up: the kernel must stop the peers (PR_SET_PDEATHSIG).
    child.kill().unwrap();
    child.wait().unwrap();
    let start = Instant::now();
    while pids.iter().any(|p| alive(*p)) {
        assert!(
            start.elapsed() < PEERS_DEADLINE,
            "peers {:?} outlived the demo",
            pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let setup = out
        .lines()
        .find(|l| l.contains(" setup "))
        .map(fields)
        .unwrap();
    // Nobody removed the work dir: do it here.
    let _ = std::fs::remove_dir_all(setup["dir"]);
}

/// A pseudo-terminal: (master, slave).
fn openpty() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd as _;
    let (mut master, mut slave) = (0, 0);
    // SAFETY: valid out-pointers; null name, termios and window size are allowed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two fresh descriptors that we now own.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    }
}

fn local_flags(fd: &std::os::fd::OwnedFd) -> libc::tcflag_t {
    use std::os::fd::AsRawFd as _;
    // SAFETY: plain data filled by tcgetattr.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and pointer.
    assert_eq!(unsafe { libc::tcgetattr(fd.as_raw_fd(), &mut t) }, 0);
    t.c_lflag
}

#[test]
fn keys_on_a_terminal_add_remove_and_quit() {
    let _serial = serial();
    use std::io::{Read as _, Write as _};
    use std::sync::{Arc, Mutex};

    let (master, slave) = openpty();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .args(["demo", "--demo.churn-interval=0"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Drain the screen continuously: a full pty buffer would block the demo.
    let screen = Arc::new(Mutex::new(String::new()));
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let sink = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = reader.read(&mut buf) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut keys = std::fs::File::from(master.try_clone().unwrap());
    let text = || screen.lock().unwrap().clone();
    let wait_for = |what: &str, child: &mut std::process::Child| {
        let start = Instant::now();
        while !text().contains(what) {
            if start.elapsed() > PEERS_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what:?} not shown within {PEERS_DEADLINE:?}; screen:\n{}",
                    text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    wait_for("owned 31 of 31 targets", &mut child);
    assert!(text().contains("a = add a peer"), "{}", text());
    // Keys switched the terminal to one key at a time without echo.
    assert_eq!(local_flags(&slave) & (libc::ICANON | libc::ECHO), 0);
    keys.write_all(b"a").unwrap();
    wait_for("added peer=peer-3", &mut child);
    wait_for("->peer-3:", &mut child);
    keys.write_all(b"r").unwrap();
    wait_for("removing peer=peer-3", &mut child);
    wait_for("graceful=true", &mut child);
    keys.write_all(b"q").unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < EXIT_DEADLINE,
            "no exit after q; screen:\n{}",
            text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}; screen:\n{}", text());
    wait_for("summary ", &mut child);
    let screen = text();
    let summary = screen
        .lines()
        .find(|l| l.starts_with("summary "))
        .map(fields)
        .unwrap();
    for zero in ["missing", "duplicate", "off_grid", "failed"] {
        assert_eq!(num(&summary, zero), 0, "{zero}; screen:\n{screen}");
    }
    assert_eq!(num(&summary, "added"), 1, "{screen}");
    assert_eq!(num(&summary, "removed"), 1, "{screen}");
    // The terminal is back to line mode with echo.
    let restored = local_flags(&slave);
    assert_eq!(
        restored & (libc::ICANON | libc::ECHO),
        libc::ICANON | libc::ECHO
    );
}
