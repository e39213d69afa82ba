//! A child process with its own temp dir and log file, killed when dropped (also while a
//! test panics, when the end of its log is printed to help read the failure).

use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Lines of log shown when a test fails while the process is alive.
const LOG_TAIL_LINES: usize = 80;

/// A running child process whose stdout and stderr go to `log_path`.
pub struct Daemon {
    name: String,
    child: Child,
    exit: Option<ExitStatus>,
    log_path: PathBuf,
    /// Kept so the directory lives as long as the process.
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Spawns `program` with `args` in a fresh temp dir, logging to `<dir>/<name>.log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], dir: tempfile::TempDir) -> Daemon {
        remember_panics();
        let log_path = dir.path().join(format!("{name}.log"));
        let log = File::create(&log_path).expect("create log file");
        let log_err = log.try_clone().expect("clone log file");
        let mut cmd = Command::new(program);
        die_with_test(&mut cmd);
        let child = cmd
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} {:?}: {e}", program.display(), args));
        Daemon {
            name: name.to_string(),
            child,
            exit: None,
            log_path,
            dir,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temp dir the process runs in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything the process wrote so far.
    pub fn log(&self) -> String {
        let bytes = std::fs::read(&self.log_path).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Sends a signal by name (`INT`, `TERM`, `HUP`, `KILL`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} {} failed", self.pid());
    }

    /// The exit status if the process has ended, without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("try_wait");
        }
        self.exit
    }

    /// Waits up to `timeout` for the process to end; panics with its log if it does not.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} (pid {}) did not exit within {timeout:?}; log tail:\n{}",
                    self.name,
                    self.pid(),
                    self.log_tail(LOG_TAIL_LINES)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- {} log ({}), last {LOG_TAIL_LINES} lines ----\n{}\n---- end of {} log ----",
                self.name,
                self.log_path.display(),
                self.log_tail(LOG_TAIL_LINES),
                self.name
            );
            // CI shows the end of the output: say again why the test failed.
            LAST_PANIC.with(|m| {
                if let Some(m) = &*m.borrow() {
                    eprintln!("---- the test failed: {m}");
                }
            });
        }
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

thread_local! {
    /// The message of the last panic on this thread (see [`remember_panics`]).
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Wraps the panic hook once so that a daemon dropped while its test panics can repeat
/// the reason after its (long) log tail.
fn remember_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let mut msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            if let Some(at) = info.location() {
                msg = format!("{msg} (at {at})");
            }
            // Long messages (slot tables) are cut: the full text is above.
            if msg.len() > 2_000 {
                let cut = (0..=2_000)
                    .rev()
                    .find(|&i| msg.is_char_boundary(i))
                    .unwrap_or(0);
                msg.truncate(cut);
                msg.push_str(" …");
            }
            LAST_PANIC.with(|m| *m.borrow_mut() = Some(msg));
            default(info);
        }));
    });
}

/// Makes the kernel SIGKILL the child when the test thread that spawned it dies, so that
/// a test process killed from outside (a timeout, SIGPIPE) leaves no peer running; `Drop`
/// covers every ending in which Rust still runs.
fn die_with_test(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid), allocating nothing.
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            // prctl is variadic: pass the unsigned long the kernel reads.
            let sig = libc::SIGKILL as libc::c_ulong;
            if libc::prctl(libc::PR_SET_PDEATHSIG, sig) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would signal us.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// Looks `name` up in `$PATH`.
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Finds an external program a test needs. Outside CI a missing program skips the test
/// (returns `None` after saying so); in CI (`CI` set) scripts/test.sh installs it, so a
/// missing one fails the test.
pub fn require_binary(name: &str, package: &str) -> Option<PathBuf> {
    if let Some(path) = find_binary(name) {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "`{name}` not found in PATH although CI is set: scripts/test.sh installs `{package}`"
        );
    }
    eprintln!(
        "SKIPPED: `{name}` not found in PATH; install the Debian package `{package}` \
         (scripts/test.sh does) to run this test"
    );
    None
}
