//! The processes under test: twilert (the release binary with a generated config)
//! and the reference handlers (this binary, re-executed). Readiness, RSS and CPU
//! come from `/proc`.

use crate::load::{PUBLIC_URL, TOKEN};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed when dropped.
pub struct Proc {
    child: Child,
    pub port: u16,
    /// Spawn → first 200 on `/healthz`.
    pub startup: Duration,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `/proc/PID/status` field in KB (`VmRSS:` now, `VmHWM:` peak).
pub fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU ticks (user + system) of a process, all its threads; for `self`, with
/// its finished children's (wrk).
fn proc_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the `(comm)`, which may hold spaces: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let children = if pid == "self" { 13..15 } else { 0..0 };
    f.get(11).copied().unwrap_or(0)
        + f.get(12).copied().unwrap_or(0)
        + children
            .map(|i| f.get(i).copied().unwrap_or(0))
            .sum::<u64>()
}

/// Busy CPU ticks of the whole machine (everything but idle and iowait).
fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    cpu.iter().sum::<u64>() - cpu.get(3).copied().unwrap_or(0) - cpu.get(4).copied().unwrap_or(0)
}

/// CPU ticks of every process named `postgres` (the server and its backends).
fn postgres_ticks() -> std::collections::HashMap<u32, u64> {
    let mut out = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim_end() == "postgres" {
            out.insert(pid, proc_ticks(&pid.to_string()));
        }
    }
    out
}

/// The targets' and this process's CPU ticks.
fn ticks_of(pids: &[u32]) -> u64 {
    pids.iter().map(|p| proc_ticks(&p.to_string())).sum::<u64>() + proc_ticks("self")
}

/// CPU used during a phase by anything other than the target and the load
/// generator: the noise indicator printed beside each measurement.
pub struct Foreign {
    pids: Vec<u32>,
    at: Instant,
    machine: u64,
    ours: u64,
    /// With [`Foreign::with_postgres`]: every PostgreSQL server process's ticks at the start.
    postgres: Option<std::collections::HashMap<u32, u64>>,
}

impl Foreign {
    pub fn start(pid: u32) -> Foreign {
        Foreign::of(&[pid])
    }

    /// As [`Foreign::start`] for several target processes (the replicas).
    pub fn of(pids: &[u32]) -> Foreign {
        let pids = pids.to_vec();
        Foreign {
            ours: ticks_of(&pids),
            pids,
            at: Instant::now(),
            machine: machine_ticks(),
            postgres: None,
        }
    }

    /// As [`Foreign::of`], the PostgreSQL server's processes (the targets' own
    /// database work) counted as the targets'. Other users of that server then
    /// count as ours too: the indicator can only understate the noise there.
    pub fn with_postgres(pids: &[u32]) -> Foreign {
        let mut f = Foreign::of(pids);
        f.postgres = Some(postgres_ticks());
        f
    }

    /// Percent of one core used by other processes since `start`.
    pub fn percent(&self) -> f64 {
        let mut ours = ticks_of(&self.pids) - self.ours;
        if let Some(before) = &self.postgres {
            // Backends started since count whole; those gone since are lost (as other).
            ours += postgres_ticks()
                .iter()
                .map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0)))
                .sum::<u64>();
        }
        let other = (machine_ticks() - self.machine).saturating_sub(ours);
        let hz = 100.0; // USER_HZ on Linux
        100.0 * other as f64 / hz / self.at.elapsed().as_secs_f64().max(1e-3)
    }
}

fn healthz_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && &buf[9..12] == b"200"
}

pub fn wait_healthy(port: u16, within: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < within {
        if healthz_ok(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    false
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

fn spawn(cmd: Command, port: u16, what: &str) -> Proc {
    try_spawn(cmd, port, what, None).unwrap_or_else(|e| panic!("{e}"))
}

/// Starts `cmd` and waits (10 s) for `/healthz` on `port`. With `log`, stderr
/// goes to that file and a process that exits first is an error quoting its end.
fn try_spawn(mut cmd: Command, port: u16, what: &str, log: Option<&Path>) -> Result<Proc, String> {
    let t = Instant::now();
    let stderr = match log {
        Some(path) => Stdio::from(
            std::fs::File::create(path).map_err(|e| format!("create {}: {e}", path.display()))?,
        ),
        None => Stdio::null(),
    };
    let child = cmd
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let mut p = Proc {
        child,
        port,
        startup: Duration::ZERO,
    };
    while t.elapsed() < Duration::from_secs(10) {
        if healthz_ok(port) {
            p.startup = t.elapsed();
            return Ok(p);
        }
        if let Ok(Some(status)) = p.child.try_wait() {
            let said = log
                .and_then(|l| std::fs::read_to_string(l).ok())
                .unwrap_or_default();
            // A panic: its message (not the backtrace); otherwise the last lines.
            let lines: Vec<&str> = said.lines().collect();
            let quote = match lines.iter().position(|l| l.contains("panicked at")) {
                Some(i) => lines[i..(i + 2).min(lines.len())].to_vec(),
                None => lines[lines.len().saturating_sub(3)..].to_vec(),
            };
            return Err(format!("{what} exited ({status}): {}", quote.join(" | ")));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(format!("{what} did not answer /healthz within 10 s"))
}

/// The release binary with a generated config: a Slack channel at the mock, a
/// fresh store in `dir`, one group window for every event.
pub fn twilert(bin: &str, dir: &Path, slack_port: u16, window: &str) -> Proc {
    twilert_with(bin, dir, slack_port, window, "")
}

/// As [`twilert`], with `extra` lines appended (TOML that completes the Slack
/// channel table, then may open further sections).
pub fn twilert_with(bin: &str, dir: &Path, slack_port: u16, window: &str, extra: &str) -> Proc {
    twilert_cfg(bin, dir, slack_port, window, "", extra)
}

/// As [`twilert_with`], with `twilio` lines added to the `[twilio]` table
/// (`verify_signature = false` for the wrk cases).
pub fn twilert_cfg(
    bin: &str,
    dir: &Path,
    slack_port: u16,
    window: &str,
    twilio: &str,
    extra: &str,
) -> Proc {
    let store = format!("path = \"{}\"", dir.join("twilert.db").display());
    let what = format!("{bin} (build it: cargo build --release --bin twilert)");
    let (cmd, port) = twilert_command(bin, dir, slack_port, window, twilio, &store, extra);
    spawn(cmd, port, &what)
}

/// As [`twilert_cfg`] with the `[store]` table's lines given (`url = "postgres://…"`),
/// its stderr in `dir/twilert.log`; a binary that refuses the config is an error,
/// not a panic.
pub fn twilert_store(
    bin: &str,
    dir: &Path,
    slack_port: u16,
    twilio: &str,
    store: &str,
) -> Result<Proc, String> {
    let (cmd, port) = twilert_command(bin, dir, slack_port, "5m", twilio, store, "");
    try_spawn(cmd, port, "twilert", Some(&dir.join("twilert.log")))
}

fn twilert_command(
    bin: &str,
    dir: &Path,
    slack_port: u16,
    window: &str,
    twilio: &str,
    store: &str,
    extra: &str,
) -> (Command, u16) {
    let port = free_port();
    let admin = free_port();
    let cfg = format!(
        r#"[server]
listen = "127.0.0.1:{port}"
[admin]
listen = "127.0.0.1:{admin}"
[twilio]
public_url = "{PUBLIC_URL}"
auth_tokens = ["{TOKEN}"]
{twilio}
[store]
{store}
[defaults]
channels = ["slack"]
window = "{window}"
[channels.slack]
kind = "slack"
url = "http://127.0.0.1:{slack_port}/services/T/B/X"
{extra}
"#
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).expect("write the bench config");
    let mut cmd = Command::new(bin);
    cmd.arg("--config").arg(&path).arg("serve");
    cmd.env("RUST_LOG", "warn");
    (cmd, port)
}

/// A reference handler: this binary, re-executed as `--floor http|durable`.
pub fn floor(kind: &str, dir: &Path) -> Proc {
    floor_with(kind, dir, &[])
}

/// As [`floor`], with extra flags (`--no-verify`).
pub fn floor_with(kind: &str, dir: &Path, flags: &[&str]) -> Proc {
    let port = free_port();
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args(["--floor", kind, "--port", &port.to_string(), "--db"])
        .arg(dir.join("floor.db"))
        .args(flags);
    spawn(cmd, port, &format!("the {kind} floor"))
}

/// The PostgreSQL floor on the database at `url`.
pub fn pg_floor(url: &str, flags: &[&str]) -> Proc {
    let port = free_port();
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args([
        "--floor",
        "postgres",
        "--port",
        &port.to_string(),
        "--db",
        url,
    ])
    .args(flags);
    spawn(cmd, port, "the postgres floor")
}
