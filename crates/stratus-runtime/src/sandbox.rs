//! One function instance's sandbox, set up by a launcher process: the server re-executes its
//! own binary as `stratus __sandbox` with a [`SandboxSpec`] in the environment. The launcher
//! joins the instance's cgroups, enters new PID and mount namespaces and forks the runtime
//! process, which becomes PID 1 there: when it dies, everything it started dies with it. In
//! its mount namespace the code is read-only at `/var/task`, the bootstrap at `/var/runtime`,
//! layers at `/opt`, a private `/tmp` is a size-bounded tmpfs, and the data directory and
//! `/root` are hidden. The runtime then drops to its own unprivileged uid and execs.
//!
//! The launcher and the runtime both die with a `SIGKILL` when their parent dies
//! (`PR_SET_PDEATHSIG`), so a server killed with `kill -9` leaves no function process behind.
//!
//! Where the host does not allow namespaces (not root), the runtime runs as a plain child
//! process with the real paths, and a warning is logged once.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use nix::sys::prctl;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Uid, chdir, execve, fork, setgid, setgroups, setuid};
use serde::{Deserialize, Serialize};

/// The environment variable that carries the spec from the server to the launcher.
pub const SPEC_VAR: &str = "STRATUS_SANDBOX_SPEC";
/// The hidden subcommand the binary dispatches to [`launcher_main`].
pub const SUBCOMMAND: &str = "__sandbox";

/// The launcher's exit status when the runtime program cannot be executed.
pub const EXEC_FAILED: i32 = 126;

/// Where things appear inside the sandbox, as on AWS.
pub const TASK_ROOT: &str = "/var/task";
pub const RUNTIME_DIR: &str = "/var/runtime";
pub const OPT_DIR: &str = "/opt";

/// Everything the launcher needs; serialized into the launcher's environment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Isolate with namespaces, mounts and a dropped uid (false: a plain child process).
    pub isolate: bool,
    /// The program and its arguments, as seen inside the sandbox.
    pub argv: Vec<String>,
    /// The complete environment of the runtime process.
    pub env: Vec<(String, String)>,
    /// Unpacked function code (host path), mounted read-only at `/var/task`.
    pub code_dir: PathBuf,
    /// The shipped bootstraps (host path), mounted read-only at `/var/runtime`.
    pub runtime_dir: PathBuf,
    /// Merged layers (host path), mounted read-only at `/opt`.
    pub layers_dir: Option<PathBuf>,
    /// Size of the private `/tmp`, in MiB.
    pub tmp_mb: u64,
    /// Host directories made invisible (the data directory).
    pub hide: Vec<PathBuf>,
    /// Host directories that must stay visible read-only under a hidden parent (the
    /// interpreter's prefix when it lives under `/root`).
    pub expose: Vec<PathBuf>,
    /// The unprivileged uid (and gid) the runtime runs as.
    pub uid: u32,
    /// `cgroup.procs` files the launcher joins before it forks.
    pub cgroup_procs: Vec<PathBuf>,
}

/// Entry point of `stratus __sandbox`. Never returns.
pub fn launcher_main() -> ! {
    let spec: SandboxSpec = match std::env::var(SPEC_VAR)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
    {
        Some(s) => s,
        None => fail("missing or invalid sandbox spec"),
    };
    // The launcher dies with the server.
    let _ = prctl::set_pdeathsig(Signal::SIGKILL);
    for procs in &spec.cgroup_procs {
        if let Err(e) = std::fs::write(procs, std::process::id().to_string()) {
            eprintln!("stratus sandbox: cannot join {}: {e}", procs.display());
        }
    }
    if !spec.isolate {
        exec_runtime(&spec, false);
    }
    if let Err(e) = unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC) {
        fail(&format!("unshare: {e}"));
    }
    // SAFETY: the launcher is single-threaded (it has not started any thread).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = prctl::set_pdeathsig(Signal::SIGKILL);
            if let Err(e) = prepare_mounts(&spec) {
                fail(&format!("mounts: {e}"));
            }
            exec_runtime(&spec, true)
        }
        Ok(ForkResult::Parent { child }) => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => std::process::exit(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    // Report the signal the way a shell does.
                    std::process::exit(128 + sig as i32)
                }
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => fail(&format!("waitpid: {e}")),
            }
        },
        Err(e) => fail(&format!("fork: {e}")),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("stratus sandbox: {msg}");
    std::process::exit(125)
}

fn open_path(p: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn bind_ro(source: &Path, target: &Path) -> nix::Result<()> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
}

fn tmpfs(target: &Path, options: &str, flags: MsFlags) -> nix::Result<()> {
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(options))
}

fn prepare_mounts(spec: &SandboxSpec) -> Result<(), String> {
    let e = |what: &str| {
        let what = what.to_string();
        move |err: nix::Error| format!("{what}: {err}")
    };
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(e("make / private"))?;
    // Hold the sources before anything above them is hidden.
    let code = open_path(&spec.code_dir).map_err(e("code dir"))?;
    let runtime = open_path(&spec.runtime_dir).map_err(e("runtime dir"))?;
    let layers = match &spec.layers_dir {
        Some(d) => Some(open_path(d).map_err(e("layers dir"))?),
        None => None,
    };
    let exposed: Vec<(PathBuf, OwnedFd)> = spec
        .expose
        .iter()
        .filter_map(|p| open_path(p).ok().map(|fd| (p.clone(), fd)))
        .collect();
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    bind_ro(&fd_path(&code), Path::new(TASK_ROOT)).map_err(e("/var/task"))?;
    bind_ro(&fd_path(&runtime), Path::new(RUNTIME_DIR)).map_err(e("/var/runtime"))?;
    match &layers {
        Some(fd) => bind_ro(&fd_path(fd), Path::new(OPT_DIR)).map_err(e("/opt"))?,
        None => tmpfs(
            Path::new(OPT_DIR),
            "size=4k,mode=0755",
            nodev | MsFlags::MS_RDONLY,
        )
        .map_err(e("/opt"))?,
    }
    tmpfs(
        Path::new("/tmp"),
        &format!("size={}m,mode=1777", spec.tmp_mb),
        nodev,
    )
    .map_err(e("/tmp"))?;
    for dir in &spec.hide {
        if dir.exists() {
            tmpfs(dir, "size=4k,mode=0755", nodev | MsFlags::MS_RDONLY).map_err(e("hide"))?;
        }
    }
    let root = Path::new("/root");
    if root.exists() {
        tmpfs(root, "size=1m,mode=0755", nodev).map_err(e("/root"))?;
    }
    for (path, fd) in &exposed {
        if path.starts_with(root) {
            std::fs::create_dir_all(path).map_err(|err| format!("expose {}: {err}", path.display()))?;
            bind_ro(&fd_path(fd), path).map_err(e("expose"))?;
        }
    }
    if root.exists() {
        mount(
            None::<&str>,
            root,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | nodev,
            Some("size=1m,mode=0755"),
        )
        .map_err(e("/root read-only"))?;
    }
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        nodev | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(e("/proc"))?;
    drop((code, runtime, layers, exposed));
    Ok(())
}

fn exec_runtime(spec: &SandboxSpec, isolated: bool) -> ! {
    if isolated {
        let id = spec.uid;
        if let Err(err) = setgroups(&[])
            .and_then(|_| setgid(Gid::from_raw(id)))
            .and_then(|_| setuid(Uid::from_raw(id)))
        {
            fail(&format!("drop privileges: {err}"));
        }
        // Changing credentials clears the parent-death signal: set it again.
        let _ = prctl::set_pdeathsig(Signal::SIGKILL);
        let _ = chdir(TASK_ROOT);
    } else {
        let _ = chdir(&spec.code_dir);
    }
    let argv: Vec<CString> = spec
        .argv
        .iter()
        .filter_map(|a| CString::new(a.as_str()).ok())
        .collect();
    let env: Vec<CString> = spec
        .env
        .iter()
        .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
        .collect();
    let Some(program) = argv.first() else {
        fail("empty argv")
    };
    match execve(program, &argv, &env) {
        Err(err) => {
            eprintln!("stratus sandbox: exec {}: {err}", spec.argv[0]);
            std::process::exit(EXEC_FAILED)
        }
        Ok(never) => match never {},
    }
}
