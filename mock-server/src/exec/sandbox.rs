//! The namespaces a workload runs in: a new user namespace (so no root is needed), a network
//! namespace whose only interface is loopback, carrying the clouds' link-local addresses, and a
//! mount namespace where `/etc/hosts` and the system CA bundles are overlaid.
//!
//! The calling process enters them itself, before it starts any thread (the kernel refuses a new
//! user namespace to a multi-threaded process), so the server it then starts, and the workload it
//! spawns, both live inside.

use std::io;
use std::net::IpAddr;
use std::path::Path;

use rustix::mount::{MountPropagationFlags, mount_bind, mount_change};
use rustix::thread::UnshareFlags;

use super::ExecError;

/// Enters new user, network and mount namespaces, mapping the caller's own uid and gid (the
/// workload keeps its user; this process keeps, inside, the capabilities it needs to set up the
/// network and the mounts). Root maps every id, so a root workload can still switch users.
pub(crate) fn enter() -> Result<(), ExecError> {
    let (uid, gid) = (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw());
    // Root may map every id (the workload keeps root and can still become other users), but only
    // a process outside the new namespace may write that map: a helper started now does it.
    let mapper = if uid == 0 { Some(start_mapper()?) } else { None };
    #[allow(deprecated)] // `unshare` is deprecated only because CLONE_FILES is unsafe; not used here.
    rustix::thread::unshare(UnshareFlags::NEWUSER | UnshareFlags::NEWNET | UnshareFlags::NEWNS).map_err(|e| refused(e.into()))?;
    let write = |file: &str, text: String| std::fs::write(file, text).map_err(|e| ExecError::Setup { step: format!("writing {file}"), source: e });
    if let Some(mapper) = mapper {
        finish_mapper(mapper)?;
    } else {
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
        write("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
    }
    mount_change("/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE).map_err(|e| ExecError::Setup { step: "making / private in the new mount namespace".into(), source: e.into() })?;
    Ok(())
}

/// Why the kernel said no, in the words a user needs, and what to do instead.
fn refused(e: io::Error) -> ExecError {
    let restricted = Path::new("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    let why = if std::fs::read_to_string(restricted).is_ok_and(|v| v.trim() == "1") {
        format!("{e}: AppArmor restricts unprivileged user namespaces on this machine (kernel.apparmor_restrict_unprivileged_userns=1)")
    } else if std::fs::read_to_string("/proc/sys/user/max_user_namespaces").is_ok_and(|v| v.trim() == "0") {
        format!("{e}: user namespaces are disabled (user.max_user_namespaces=0)")
    } else if e.raw_os_error() == Some(1) {
        format!("{e}: this process may not create user namespaces (a container without the capability, or a seccomp profile that forbids unshare)")
    } else {
        e.to_string()
    };
    ExecError::NamespacesRefused { why }
}

/// Brings loopback up and gives it `addresses`.
pub(crate) fn network(addresses: &[IpAddr]) -> Result<(), ExecError> {
    super::netlink::loopback_up().map_err(|e| ExecError::Setup { step: "bringing up the loopback interface".into(), source: e })?;
    for addr in addresses {
        super::netlink::add_loopback_address(*addr).map_err(|e| ExecError::Setup { step: format!("adding {addr} to the loopback interface"), source: e })?;
    }
    Ok(())
}

/// Bind-mounts `source` over `target` (both must exist, both files or both directories),
/// read-only: the workload cannot change what it was given.
pub(crate) fn overlay(source: &Path, target: &Path) -> Result<(), ExecError> {
    let failed = |e: rustix::io::Errno| ExecError::Setup { step: format!("overlaying {}", target.display()), source: e.into() };
    mount_bind(source, target).map_err(failed)?;
    rustix::mount::mount_remount(target, rustix::mount::MountFlags::BIND | rustix::mount::MountFlags::RDONLY, "").map_err(failed)
}

/// Hides the relays' sockets in `dir` from the workload: an empty read-only tmpfs over `dir`,
/// and this process, made non-dumpable (so the workload cannot use its `/proc/PID/fd`), keeps a
/// handle on the directory underneath. The handle, and the path it reaches the sockets by
/// (`/proc/self/fd/N`). A workload running as root in the namespace could still undo this.
pub(crate) fn hide_sockets(dir: &Path) -> Result<(rustix::fd::OwnedFd, std::path::PathBuf), ExecError> {
    use rustix::fs::{Mode, OFlags};
    let failed = |step: &str, e: rustix::io::Errno| ExecError::Setup { step: format!("{step} {}", dir.display()), source: e.into() };
    let fd = rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| failed("opening", e))?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable).map_err(|e| failed("hiding this process's handles on", e))?;
    let flags = rustix::mount::MountFlags::RDONLY | rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV | rustix::mount::MountFlags::NOEXEC;
    rustix::mount::mount("tmpfs", dir, "tmpfs", flags, None::<&std::ffi::CStr>).map_err(|e| failed("covering", e))?;
    let reach = std::path::PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)));
    Ok((fd, reach))
}

/// Starts `cloudid __map-ids PID`, which waits for a line on its stdin.
fn start_mapper() -> Result<std::process::Child, ExecError> {
    let exe = std::env::current_exe().map_err(|e| ExecError::Setup { step: "finding the cloudid executable".into(), source: e })?;
    std::process::Command::new(exe)
        .arg("__map-ids")
        .arg(std::process::id().to_string())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| ExecError::Setup { step: "starting the id mapper".into(), source: e })
}

/// Tells the mapper the namespace exists and waits for it to map every id.
fn finish_mapper(mut mapper: std::process::Child) -> Result<(), ExecError> {
    use std::io::Write;
    let failed = |e: io::Error| ExecError::Setup { step: "mapping the user ids".into(), source: e };
    mapper.stdin.take().ok_or_else(|| failed(io::Error::other("no pipe to the mapper")))?.write_all(b"go\n").map_err(failed)?;
    let status = mapper.wait().map_err(failed)?;
    if status.success() { Ok(()) } else { Err(failed(io::Error::other(format!("the mapper ended with {status}")))) }
}

/// `cloudid __map-ids PID`: once a line arrives on stdin, maps every user and group id of PID's
/// user namespace to the same ids outside (root's map, written from outside the namespace).
pub fn map_ids(pid: u32) -> io::Result<()> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    std::fs::write(format!("/proc/{pid}/uid_map"), "0 0 4294967295")?;
    std::fs::write(format!("/proc/{pid}/gid_map"), "0 0 4294967295")
}
