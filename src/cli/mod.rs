//! The command line: runc's global flags and commands as clap types, nothing else. `main` and
//! the dispatch to each command live in `commands/mod.rs`, which points down to this file.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

mod fast;


/// `-h` shaped as runc's (urfave/cli): NAME, USAGE, VERSION, COMMANDS, GLOBAL OPTIONS.
const HELP: &str = "NAME:\n   {name} - {about}\n\nUSAGE:\n   {name} [global options] command [command options] [arguments...]\n\nVERSION:\n   {version}\n\nCOMMANDS:\n{subcommands}\n\nGLOBAL OPTIONS:\n{options}\n";
/// A command's help as runc's: NAME (`bulkhead exec - ...`; clap's {name} and {bin} say
/// `bulkhead-exec`), USAGE, OPTIONS.
fn sub_help(name: &str) -> String {
    format!("NAME:\n   bulkhead {name} - {{about}}\n\nUSAGE:\n   {{usage}}\n\nOPTIONS:\n{{options}}\n")
}

#[derive(Parser, Debug)]
#[command(name = "bulkhead", about = "An OCI container runtime (runc-compatible)", version, disable_version_flag = true, help_template = HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Print the version
    #[arg(short = 'v', long = "version", global = true)]
    pub version: bool,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Directory holding container state [default: /run/bulkhead; not root:
    /// $XDG_RUNTIME_DIR/bulkhead, as runc]
    #[arg(long, global = true, default_value_os_t = default_root(), hide_default_value = true)]
    pub root: PathBuf,
    /// Whether --root was on the command line (runc's `list` treats a missing default root as
    /// empty, a missing given one as an error).
    #[arg(skip)]
    pub root_given: bool,
    /// Log file (all records go there; without it, warnings go to stderr)
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log debug records
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd for cgroups: the container is a transient unit (cgroupsPath "slice:prefix:name")
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility (auto, true, false); only before the command, since
    /// `spec --rootless` is a different flag
    #[arg(long = "rootless", id = "global_rootless", hide = true)]
    pub rootless: Option<String>,
    /// Accepted for runc compatibility; checkpointing is not supported
    #[arg(long = "criu", global = true, hide = true)]
    pub criu: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Path to the bundle (default: current directory)
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the init (as runc's)
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the init's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3..3+N) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

// `exec`'s flags: runc's, with its short forms.
#[derive(Args, Debug, Clone, Default)]
pub struct ExecArgs {
    /// Unix socket that receives the pty master (with --tty and --detach)
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the new process (as runc's)
    #[arg(long = "pidfd-socket")]
    pub pidfd_socket: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (repeatable)
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// uid[:gid] to run as
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional gids (repeatable)
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<String>,
    /// Path to a process.json (ignores the other process flags)
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Return once the process is running
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// File to write the process's pid to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label for the process
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Add a capability to every set (repeatable)
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// Pass N extra fds (3..3+N) to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Sub-cgroup to run in: <path> or <controller>[,<controller>]:<path> (repeatable)
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Exec even if the container is paused
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    pub id: String,
    /// The command and its arguments (not with --process)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
// Each subcommand's arguments are built only when it is the one invoked: building all of
// them (every Arg cloned and grown into place) was ~0.1 ms and ~40 KiB of heap per call.
#[command(defer = true)]
pub enum Cmd {
    /// Create a container: set it up and leave it waiting for `start`
    Create {
        #[command(flatten)]
        opts: CreateArgs,
        id: String,
    },
    /// Start a created container's process
    Start { id: String },
    /// Create and start a container (foreground unless --detach)
    Run {
        #[command(flatten)]
        opts: CreateArgs,
        /// Return once started, leaving the container running
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the stopped container (do not delete it) after it exits
        #[arg(long)]
        keep: bool,
        /// Accepted for runc compatibility
        #[arg(long = "no-subreaper", hide = true)]
        no_subreaper: bool,
        id: String,
    },
    /// Run a new process inside a running container
    Exec(ExecArgs),
    /// Print a container's OCI state
    State { id: String },
    /// Send a signal to the container's init (or, with --all, to all its processes)
    Kill {
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        #[arg(default_value = "SIGTERM")]
        signal: String,
    },
    /// Delete containers (and their cgroups and state)
    Delete {
        /// Kill a running container first
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// List containers
    List {
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Print only IDs
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        #[arg(short = 'b', long, default_value = ".")]
        bundle: PathBuf,
        /// A config that runs as a non-root user
        #[arg(long)]
        rootless: bool,
    },
    /// Print the runtime's features as OCI features JSON
    Features,
    /// Suspend every process of a container (cgroup freezer)
    Pause { id: String },
    /// Resume a paused container
    Resume { id: String },
    /// List a container's processes (ps(1) rows, or a JSON array of pids)
    Ps {
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
        /// Arguments for ps(1) (default: -ef); put them after `--`
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change a running container's cgroup resources
    Update {
        #[command(flatten)]
        opts: UpdateArgs,
        id: String,
    },
    /// Stream a container's stats and OOM events as JSON lines
    Events {
        /// Stats interval (e.g. 5s, 500ms, 1m)
        #[arg(long, default_value = "5s")]
        interval: String,
        /// Print the stats once and exit
        #[arg(long)]
        stats: bool,
        id: String,
    },
}

// `update`'s flags (runc's names; memory values take runc's units: 10m, 1g, or -1).
#[derive(Args, Debug, Clone, Default)]
pub struct UpdateArgs {
    /// JSON LinuxResources from FILE, or '-' for stdin (other flags are then ignored)
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Per-cgroup block IO weight (10 to 1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period (µs)
    #[arg(long = "cpu-period", allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// CPU CFS quota (µs per period; -1 for none)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPU CFS burst (µs)
    #[arg(long = "cpu-burst", allow_hyphen_values = true)]
    pub cpu_burst: Option<String>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share", visible_alias = "cpu-shares", allow_hyphen_values = true)]
    pub cpu_share: Option<String>,
    /// SCHED_IDLE for the cgroup (0 or 1)
    #[arg(long = "cpu-idle", allow_hyphen_values = true)]
    pub cpu_idle: Option<String>,
    /// CPU realtime period (µs)
    #[arg(long = "cpu-rt-period", allow_hyphen_values = true)]
    pub cpu_rt_period: Option<String>,
    /// CPU realtime runtime (µs per period)
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPUs to use (e.g. 0-1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Kernel memory limit (deprecated; ignored by recent kernels)
    #[arg(long = "kernel-memory", allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer memory limit (deprecated)
    #[arg(long = "kernel-memory-tcp", allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or with a unit: 512k, 10m, 1g; -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation (soft limit)
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory + swap limit; -1 for unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (-1 for none)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT/CAT L3 cache schema
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT/MBA memory bandwidth schema
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}

/// Parses the command line: runc-shaped help for every command, and `root_given` set.
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(cli) = fast::parse(&args[1.min(args.len())..]) {
        return Ok(cli);
    }
    parse_with_clap(args)
}

/// The whole command line through clap: every shape, the help and the errors.
pub fn parse_with_clap(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let m = Cli::command().mut_subcommands(|c| { let t = sub_help(c.get_name()); c.help_template(t) }).try_get_matches_from(args)?;
    let mut cli = Cli::from_arg_matches(&m)?;
    cli.global.root_given = root_given(&m);
    Ok(cli)
}

/// --root given before or after the command name (a global flag lands in either matches).
fn root_given(m: &clap::ArgMatches) -> bool {
    let given = |m: &clap::ArgMatches| m.value_source("root") == Some(clap::parser::ValueSource::CommandLine);
    given(m) || m.subcommand().is_some_and(|(_, sub)| given(sub))
}

/// runc's rule (security::rootless::default_state_root): /run/bulkhead for root, and
/// $XDG_RUNTIME_DIR/bulkhead for a non-root uid or uid 0 of a user namespace (podman rootless).
pub(crate) fn default_root() -> PathBuf {
    crate::security::rootless::default_state_root_here().0
}
