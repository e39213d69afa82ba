//! The demo's peers: child processes of the same binary, each with its own config file,
//! storage path, log file, web and gossip ports, all joined to the first peer.
//!
//! No peer outlives the demo: a graceful stop is SIGTERM then a wait with a deadline,
//! then SIGKILL; a dropped [`PeerSet`] (an error or a panic unwinding) SIGKILLs what is
//! left (`kill_on_drop`); and if the demo process itself dies, the kernel SIGKILLs each
//! child (`PR_SET_PDEATHSIG`, Linux).

use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Time between a peer announcing a join or a stop and the slot at which targets move:
/// short, so that changes show within seconds.
pub const HANDOFF_DELAY: &str = "3s";
/// How long a stopping peer keeps sending what it queued.
const FLUSH_DEADLINE: &str = "5s";
/// How often a wait for exits looks again.
const EXIT_POLL: Duration = Duration::from_millis(50);

/// Why a peer could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// Its directory or files could not be written.
    #[error("cannot prepare {path}: {source}")]
    Prepare {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No free port could be found.
    #[error("cannot find a free port on 127.0.0.1: {0}")]
    Port(std::io::Error),
    /// The process could not be spawned.
    #[error("cannot start {name} ({exe}): {source}")]
    Spawn {
        /// Peer name.
        name: String,
        /// The binary.
        exe: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Whether a peer was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Scraping (or still starting).
    Running,
    /// SIGTERM sent: handing over, flushing, then exiting.
    Stopping,
}

/// One running child peer.
#[derive(Debug)]
pub struct Peer {
    /// Node name (`peer-N`, StatefulSet style: a name is reused once its process is gone).
    pub name: String,
    /// N of the name.
    pub index: usize,
    /// Web address (`/api/v1/cluster`, `/api/v1/targets`, status page).
    pub web: SocketAddr,
    /// Gossip address (UDP).
    pub gossip: SocketAddr,
    /// Process id.
    pub pid: u32,
    /// Running or stopping.
    pub phase: Phase,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    started: Instant,
    child: Child,
}

/// What a new peer got.
#[derive(Clone, Debug)]
pub struct Started {
    /// Node name.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Web address.
    pub web: SocketAddr,
    /// Gossip address.
    pub gossip: SocketAddr,
}

/// A peer process that ended.
#[derive(Debug)]
pub struct Exit {
    /// Node name.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// How it ended (None: it could not be waited for).
    pub status: Option<ExitStatus>,
    /// Whether the demo had asked it to stop (SIGTERM).
    pub requested: bool,
    /// Whether the demo had to SIGKILL it after the stop deadline.
    pub killed: bool,
    /// Its lifetime.
    pub lived: Duration,
    /// Its log file.
    pub log: PathBuf,
}

impl Exit {
    /// A stop the demo asked for, that ended with exit code 0.
    pub fn graceful(&self) -> bool {
        self.requested && !self.killed && self.status.is_some_and(|s| s.success())
    }
}

/// The demo's peers.
pub struct PeerSet {
    exe: PathBuf,
    dir: PathBuf,
    config: String,
    /// Oldest first: a new peer joins the oldest one's gossip address.
    peers: Vec<Peer>,
}

impl PeerSet {
    /// Peers of binary `exe`, with files under `dir`, all reading `config`.
    pub fn new(exe: PathBuf, dir: PathBuf, config: String) -> PeerSet {
        PeerSet {
            exe,
            dir,
            config,
            peers: Vec::new(),
        }
    }

    /// Live peers (running or stopping), oldest first.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// Peers not asked to stop.
    pub fn running(&self) -> usize {
        self.peers
            .iter()
            .filter(|p| p.phase == Phase::Running)
            .count()
    }

    /// Starts one more peer, named after the lowest index no live process uses.
    pub fn add(&mut self) -> Result<Started, PeerError> {
        let index = (0..)
            .find(|i| self.peers.iter().all(|p| p.index != *i))
            .unwrap_or(self.peers.len());
        let name = format!("peer-{index}");
        let home = self.dir.join(&name);
        let prepare = |path: &Path, e| PeerError::Prepare {
            path: path.to_path_buf(),
            source: e,
        };
        std::fs::create_dir_all(&home).map_err(|e| prepare(&home, e))?;
        let config_path = home.join("shoal.yml");
        std::fs::write(&config_path, &self.config).map_err(|e| prepare(&config_path, e))?;
        let log = self.dir.join(format!("{name}.log"));
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| prepare(&log, e))?;
        let err = out.try_clone().map_err(|e| prepare(&log, e))?;
        let web = free_tcp_port().map_err(PeerError::Port)?;
        let gossip = free_udp_port().map_err(PeerError::Port)?;

        let mut cmd = Command::new(&self.exe);
        cmd.arg(format!("--config.file={}", config_path.display()))
            .arg(format!("--web.listen-address={web}"))
            .arg(format!("--storage.path={}", home.join("data").display()))
            .arg(format!("--storage.remote.flush-deadline={FLUSH_DEADLINE}"))
            .arg("--cluster.enabled")
            .arg(format!("--cluster.node-name={name}"))
            .arg(format!("--cluster.listen-address={gossip}"))
            .arg(format!("--cluster.handoff-delay={HANDOFF_DELAY}"))
            .arg("--log.level=info");
        if let Some(seed) = self.peers.first().map(|p| p.gossip) {
            cmd.arg(format!("--cluster.join={seed}"));
        }
        cmd.current_dir(&home)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            // A process group of its own: a Ctrl-C at the terminal reaches only the demo,
            // which then stops the peers in order.
            .process_group(0);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| PeerError::Spawn {
            name: name.clone(),
            exe: self.exe.clone(),
            source: e,
        })?;
        let pid = child.id().unwrap_or(0);
        let started = Started {
            name: name.clone(),
            pid,
            web,
            gossip,
        };
        self.peers.push(Peer {
            name,
            index,
            web,
            gossip,
            pid,
            phase: Phase::Running,
            log,
            started: crate::model::clock::thread_now(),
            child,
        });
        Ok(started)
    }

    /// SIGTERMs the newest running peer (never the oldest, which new peers join);
    /// returns its name. The peer hands its targets over and exits on its own.
    pub fn remove_newest(&mut self) -> Option<String> {
        let peer = self
            .peers
            .iter_mut()
            .skip(1)
            .filter(|p| p.phase == Phase::Running)
            .max_by_key(|p| (p.index, p.started))?;
        terminate(peer);
        Some(peer.name.clone())
    }

    /// Collects the peers that have exited.
    pub fn reap(&mut self) -> Vec<Exit> {
        let mut exits = Vec::new();
        let mut i = 0;
        while i < self.peers.len() {
            let status = self.peers.get_mut(i).and_then(|p| p.child.try_wait().ok());
            match status {
                Some(Some(status)) => {
                    let p = self.peers.remove(i);
                    exits.push(exit_of(p, Some(status), false));
                }
                _ => i += 1,
            }
        }
        exits
    }

    /// Stops every peer: SIGTERM, a wait of up to `deadline`, then SIGKILL.
    pub async fn shutdown(&mut self, deadline: Duration) -> Vec<Exit> {
        for p in self.peers.iter_mut().filter(|p| p.phase == Phase::Running) {
            terminate(p);
        }
        let until = crate::model::clock::thread_now() + deadline;
        let mut exits = self.reap();
        while !self.peers.is_empty() && crate::model::clock::thread_now() < until {
            tokio::time::sleep(EXIT_POLL).await;
            exits.extend(self.reap());
        }
        for mut p in std::mem::take(&mut self.peers) {
            tracing::warn!(peer = %p.name, pid = p.pid, ?deadline, "peer did not stop in time; killing it");
            let _ = p.child.start_kill();
            let status = p.child.wait().await.ok();
            exits.push(exit_of(p, status, true));
        }
        exits
    }
}

impl PeerSet {
    /// SIGKILLs every peer at once (reaped in the background).
    pub fn kill_all(&mut self) {
        for mut p in std::mem::take(&mut self.peers) {
            let _ = p.child.start_kill();
        }
    }
}

fn exit_of(p: Peer, status: Option<ExitStatus>, killed: bool) -> Exit {
    Exit {
        requested: p.phase == Phase::Stopping,
        killed,
        lived: p.started.elapsed(),
        name: p.name,
        pid: p.pid,
        status,
        log: p.log,
    }
}

/// Sends SIGTERM to a peer not yet reaped (so its pid cannot have been reused).
fn terminate(p: &mut Peer) {
    p.phase = Phase::Stopping;
    let Ok(pid) = libc::pid_t::try_from(p.pid) else {
        return;
    };
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) has no memory effects; `pid` is our unreaped child.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(peer = %p.name, pid, error = %e, "cannot send sigterm");
    }
}

/// Asks the kernel to SIGKILL the child when the thread that forked it dies. The demo
/// forks from the thread that runs its (current-thread) runtime, which lives as long as
/// the demo, so this is "when the demo dies".
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid) and allocates nothing.
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

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

/// A TCP port that was free on 127.0.0.1 a moment ago.
fn free_tcp_port() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A UDP port that was free on 127.0.0.1 a moment ago (gossip is UDP).
fn free_udp_port() -> std::io::Result<SocketAddr> {
    UdpSocket::bind("127.0.0.1:0")?.local_addr()
}
