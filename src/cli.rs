//! Command-line flags, with Prometheus-style names.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::config::{ByteSize, PromDuration};

/// shoal: a clustered Prometheus scrape agent.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Flags of the agent (when no subcommand is given).
    #[command(flatten)]
    pub agent: AgentArgs,
    /// Logging flags.
    #[command(flatten)]
    pub log: LogArgs,
    /// A tool instead of the agent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate files and exit 0 (valid) or 1 (invalid), like promtool.
    Check {
        /// What to check.
        #[command(subcommand)]
        what: CheckCommand,
    },
    /// A local cluster with its own targets and receiver: shows who scrapes what and
    /// the missing and duplicate slots while peers come and go.
    Demo(DemoArgs),
}

/// Flags of `shoal demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Peers started at the beginning.
    #[arg(long = "demo.peers", default_value_t = 3, value_parser = parse_peers)]
    pub peers: usize,
    /// Period of the automatic change: add a peer, then remove it, and so on (0: off).
    #[arg(long = "demo.churn-interval", default_value = "20s", value_parser = parse_duration)]
    pub churn_interval: Duration,
    /// Stop after this long [default: at Ctrl-C].
    #[arg(long = "demo.duration", value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// `shoal check ...`.
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check configuration files.
    Config {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Flags of the running agent.
#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Configuration file (Prometheus format).
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Address of the HTTP API, status page and /metrics.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9464")]
    pub web_listen_address: SocketAddr,
    /// Directory for the agent's data (write-ahead log).
    #[arg(long = "storage.path", default_value = "data/")]
    pub storage_path: PathBuf,
    /// Put the durable write-ahead log between scraping and remote write (default on).
    /// `--storage.wal.enabled=false` or `--no-storage.wal.enabled` turns it off: the
    /// remote-write queues are then bounded, in memory, and drop when full.
    #[arg(
        long = "storage.wal.enabled",
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub wal_enabled: bool,
    /// Same as `--storage.wal.enabled=false`.
    #[arg(long = "no-storage.wal.enabled")]
    pub no_wal: bool,
    /// Disk bound of the write-ahead log: past it the oldest data is dropped (counted per
    /// endpoint and logged). Default 8GiB.
    #[arg(long = "storage.max-bytes", default_value = "8GiB", value_parser = parse_bytes)]
    pub max_bytes: u64,
    /// How long to keep sending queued samples on shutdown before giving up.
    #[arg(long = "storage.remote.flush-deadline", default_value = "1m", value_parser = parse_duration)]
    pub flush_deadline: Duration,
    /// Clustering flags.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

impl AgentArgs {
    /// True when the write-ahead log is on (the default).
    pub fn wal(&self) -> bool {
        self.wal_enabled && !self.no_wal
    }
}

/// `--cluster.*`: gossip membership and the split of targets among peers.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Join a cluster of peers that split the targets; off: this peer owns every target.
    #[arg(long = "cluster.enabled")]
    pub enabled: bool,
    /// Unique name of this peer, stable across restarts (the pod name) [default: host name].
    #[arg(long = "cluster.node-name", value_name = "NAME")]
    pub node_name: Option<String>,
    /// UDP address the gossip listens on.
    #[arg(long = "cluster.listen-address", default_value = "0.0.0.0:7946")]
    pub listen_address: SocketAddr,
    /// Address peers dial [default: the listen address; if its IP is unspecified, the IP of
    /// the interface holding the default route, else 127.0.0.1, with the listen port].
    #[arg(long = "cluster.advertise-address", value_name = "IP:PORT")]
    pub advertise_address: Option<SocketAddr>,
    /// Seed peers, `host:port` separated by commas; DNS names are re-resolved.
    #[arg(
        long = "cluster.join",
        value_name = "HOST:PORT[,...]",
        value_delimiter = ','
    )]
    pub join: Vec<String>,
    /// Cluster name: peers gossiping under another name are ignored.
    #[arg(long = "cluster.name", default_value = "shoal")]
    pub name: String,
    /// Time between announcing a join or a stop and the slot at which targets move.
    #[arg(long = "cluster.handoff-delay", default_value = "5s", value_parser = parse_duration)]
    pub handoff_delay: Duration,
    /// Own nothing until this many participants have been seen at once.
    #[arg(long = "cluster.min-peers", value_name = "N")]
    pub min_peers: Option<usize>,
}

impl ClusterArgs {
    /// `--cluster.node-name`, or the host name.
    pub fn node_name(&self) -> String {
        self.node_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(host_name)
    }

    /// `--cluster.advertise-address`, or one derived from the listen address.
    pub fn advertise_address(&self) -> SocketAddr {
        self.advertise_address
            .unwrap_or_else(|| concrete(self.listen_address))
    }
}

/// `addr` itself, or, when its IP is unspecified (`0.0.0.0`, `::`), the same port on
/// [`default_route_ip`]: an address another host (or process) can dial.
pub fn concrete(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(default_route_ip(), addr.port())
    } else {
        addr
    }
}

/// The IP of the interface holding the default route (a pod's IP), found by connecting a
/// UDP socket, which sends nothing; 127.0.0.1 on a host without a route.
pub fn default_route_ip() -> IpAddr {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // TEST-NET-1 (RFC 5737): never a real peer; only the route lookup matters.
    let probe = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 9);
    UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|s| s.connect(probe).and_then(|()| s.local_addr()))
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback())
        .unwrap_or(loopback)
}

/// This host's name (a StatefulSet pod's name), the default `--cluster.node-name`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Logging flags.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Lowest level logged.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info, global = true)]
    pub level: LogLevel,
    /// Output format of log lines.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    pub format: LogFormat,
}

/// `--log.level` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including per-scrape detail.
    Debug,
    /// Normal operation.
    Info,
    /// Problems that shoal works around.
    Warn,
    /// Problems that lose data or stop a component.
    Error,
}

/// `--log.format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `ts=... level=info msg="..." key=value`, as Prometheus logs.
    Logfmt,
    /// One JSON object per line.
    Json,
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    ByteSize::parse(s).map(|b| b.0)
}

fn parse_peers(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ 1..=16) => Ok(n),
        _ => Err(format!("want a number of peers from 1 to 16, got {s:?}")),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    PromDuration::parse(s).map(|d| d.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_flags_parse() {
        let cli = Cli::try_parse_from([
            "shoal",
            "--config.file=shoal.yml",
            "--storage.path",
            "/tmp/d",
            "--web.listen-address=127.0.0.1:9999",
            "--log.format=json",
            "--storage.remote.flush-deadline=30s",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.agent.config_file, Some(PathBuf::from("shoal.yml")));
        assert_eq!(cli.agent.web_listen_address.port(), 9999);
        assert_eq!(cli.agent.flush_deadline, Duration::from_secs(30));
        assert_eq!(cli.agent.max_bytes, 8 << 30);
        let small = Cli::try_parse_from(["shoal", "--storage.max-bytes=64MB"]).unwrap();
        assert_eq!(small.agent.max_bytes, 64 << 20);
        assert_eq!(cli.log.format, LogFormat::Json);
    }

    #[test]
    fn wal_is_on_by_default_and_can_be_turned_off() {
        let wal = |args: &[&str]| {
            let mut all = vec!["shoal"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).unwrap().agent.wal()
        };
        assert!(wal(&[]));
        assert!(wal(&["--storage.wal.enabled", "--config.file=x.yml"]));
        assert!(wal(&["--storage.wal.enabled=true"]));
        assert!(!wal(&["--storage.wal.enabled=false"]));
        assert!(!wal(&["--no-storage.wal.enabled"]));
        assert!(Cli::try_parse_from(["shoal", "--storage.wal.enabled=maybe"]).is_err());
    }

    #[test]
    fn check_config_parses() {
        let cli = Cli::try_parse_from(["shoal", "check", "config", "a.yml", "b.yml"]).unwrap();
        match cli.command {
            Some(Command::Check {
                what: CheckCommand::Config { files },
            }) => assert_eq!(files.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn demo_flags_parse() {
        let cli = Cli::try_parse_from(["shoal", "demo"]).unwrap();
        let Some(Command::Demo(d)) = cli.command else {
            panic!("not demo: {:?}", cli.command)
        };
        assert_eq!(d.peers, 3);
        assert_eq!(d.churn_interval, Duration::from_secs(20));
        assert_eq!(d.duration, None);
        let cli = Cli::try_parse_from([
            "shoal",
            "demo",
            "--demo.peers=5",
            "--demo.churn-interval=0",
            "--demo.duration=1m",
        ])
        .unwrap();
        let Some(Command::Demo(d)) = cli.command else {
            panic!("not demo: {:?}", cli.command)
        };
        assert_eq!(d.peers, 5);
        assert!(d.churn_interval.is_zero());
        assert_eq!(d.duration, Some(Duration::from_secs(60)));
        for bad in ["--demo.peers=0", "--demo.peers=x", "--demo.duration=soon"] {
            assert!(
                Cli::try_parse_from(["shoal", "demo", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn cluster_flags_default() {
        let cli = Cli::try_parse_from(["shoal", "--config.file=a.yml"]).unwrap();
        let c = &cli.agent.cluster;
        assert!(!c.enabled);
        assert_eq!(c.listen_address, "0.0.0.0:7946".parse().unwrap());
        assert_eq!(c.advertise_address, None);
        assert!(c.join.is_empty());
        assert_eq!(c.name, "shoal");
        assert_eq!(c.handoff_delay, Duration::from_secs(5));
        assert_eq!(c.min_peers, None);
        assert_eq!(c.node_name(), host_name());
        // Derived from an unspecified listen IP: a concrete address with the same port.
        let adv = c.advertise_address();
        assert!(!adv.ip().is_unspecified(), "{adv}");
        assert_eq!(adv.port(), 7946);
    }

    #[test]
    fn cluster_flags_parse() {
        let cli = Cli::try_parse_from([
            "shoal",
            "--cluster.enabled",
            "--cluster.node-name=shoal-1",
            "--cluster.listen-address=127.0.0.2:8000",
            "--cluster.join=shoal-0.shoal:7946,10.0.0.1:7946",
            "--cluster.name=prod",
            "--cluster.handoff-delay=2s",
            "--cluster.min-peers=3",
        ])
        .unwrap();
        let c = &cli.agent.cluster;
        assert!(c.enabled);
        assert_eq!(c.node_name(), "shoal-1");
        assert_eq!(c.join, ["shoal-0.shoal:7946", "10.0.0.1:7946"]);
        assert_eq!(c.name, "prod");
        assert_eq!(c.handoff_delay, Duration::from_secs(2));
        assert_eq!(c.min_peers, Some(3));
        // A concrete listen address is advertised as is.
        assert_eq!(c.advertise_address(), "127.0.0.2:8000".parse().unwrap());
        let explicit =
            Cli::try_parse_from(["shoal", "--cluster.advertise-address=10.1.2.3:7000"]).unwrap();
        assert_eq!(
            explicit.agent.cluster.advertise_address(),
            "10.1.2.3:7000".parse().unwrap()
        );
    }

    #[test]
    fn concrete_addresses() {
        let fixed: SocketAddr = "10.0.0.5:9464".parse().unwrap();
        assert_eq!(concrete(fixed), fixed);
        let any = concrete("0.0.0.0:9464".parse().unwrap());
        assert_eq!(any.port(), 9464);
        assert!(!any.ip().is_unspecified());
    }

    #[test]
    fn bad_flags_are_rejected() {
        assert!(Cli::try_parse_from(["shoal", "--cluster.handoff-delay=soon"]).is_err());
        assert!(Cli::try_parse_from(["shoal", "--cluster.min-peers=-1"]).is_err());
        assert!(Cli::try_parse_from(["shoal", "--cluster.listen-address=x"]).is_err());
        assert!(Cli::try_parse_from(["shoal", "--web.listen-address=nope"]).is_err());
        assert!(Cli::try_parse_from(["shoal", "--log.level=loud"]).is_err());
        assert!(Cli::try_parse_from(["shoal", "--unknown"]).is_err());
    }
}
