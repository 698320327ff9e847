//! A small SMTP server for the email tests: speaks enough ESMTP for lettre
//! (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT), records every
//! message and conversation, and answers scripted failures (`451` after DATA,
//! `550` to RCPT, ...). No TLS and no 8BITMIME: what we send must be 7-bit clean.
//! In echo mode ([`Sink::echo_auth`]) it refuses every login with a 535 that repeats
//! the client's AUTH lines, raw (base64) and decoded, as careless servers do.

use base64::Engine;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Where a scripted reply replaces the usual positive one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Rcpt,
    /// The reply after the message's final `.`.
    DataEnd,
}

/// SASL mechanisms the sink can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
}

/// One message accepted (250 after DATA).
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as transmitted, dot-unstuffed, CRLF line ends.
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    accepted: Vec<Received>,
    /// Messages whose DATA was refused by a scripted reply.
    refused: usize,
    connections: usize,
    /// Decoded `AUTH` credentials, as `user:password`.
    logins: Vec<String>,
    script: VecDeque<(Stage, String)>,
    delays: VecDeque<(Stage, std::time::Duration)>,
    /// Offer only this mechanism and answer the login with an echoing 535.
    echo_auth: Option<Mechanism>,
}

#[derive(Clone)]
pub struct Sink {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                st.lock().expect("state").connections += 1;
                let st = st.clone();
                tokio::spawn(async move {
                    let _ = serve(sock, st).await;
                });
            }
        });
        Sink { port, state }
    }

    /// The next time `stage` is reached, answer `reply` (e.g. `"451 4.3.0 Try later"`).
    pub fn fail_next(&self, stage: Stage, reply: &str) {
        self.state
            .lock()
            .expect("state")
            .script
            .push_back((stage, reply.to_string()));
    }

    /// From now on offer only `mechanism`, and refuse each login with `535` plus
    /// the AUTH lines as received and as decoded.
    pub fn echo_auth(&self, mechanism: Mechanism) {
        self.state.lock().expect("state").echo_auth = Some(mechanism);
    }

    /// The next time `stage` is reached, wait `d` before answering (a slow server).
    pub fn delay_next(&self, stage: Stage, d: std::time::Duration) {
        self.state
            .lock()
            .expect("state")
            .delays
            .push_back((stage, d));
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.state.lock().expect("state").accepted.clone()
    }

    pub fn refused(&self) -> usize {
        self.state.lock().expect("state").refused
    }

    pub fn connections(&self) -> usize {
        self.state.lock().expect("state").connections
    }

    pub fn logins(&self) -> Vec<String> {
        self.state.lock().expect("state").logins.clone()
    }

    /// Waits until at least `n` messages were accepted; returns them all.
    pub async fn wait_for(&self, n: usize, within: std::time::Duration) -> Vec<Received> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let got = self.accepted();
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

fn scripted(st: &Mutex<State>, stage: Stage) -> Option<String> {
    let mut s = st.lock().expect("state");
    let i = s.script.iter().position(|(st, _)| *st == stage)?;
    s.script.remove(i).map(|(_, r)| r)
}

fn delay(st: &Mutex<State>, stage: Stage) -> Option<std::time::Duration> {
    let mut s = st.lock().expect("state");
    let i = s.delays.iter().position(|(st, _)| *st == stage)?;
    s.delays.remove(i).map(|(_, d)| d)
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map(|b| String::from_utf8_lossy(&b).to_string())
        .unwrap_or_default()
}

async fn serve(sock: tokio::net::TcpStream, st: Arc<Mutex<State>>) -> std::io::Result<()> {
    sock.set_nodelay(true)?;
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP twilert test sink\r\n")
        .await?;
    let mut mail_from = String::new();
    let mut rcpt_to = vec![];
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let echo = st.lock().expect("state").echo_auth;
        let reply: String = if upper.starts_with("EHLO") {
            let auth = match echo {
                None => "PLAIN LOGIN",
                Some(Mechanism::Plain) => "PLAIN",
                Some(Mechanism::Login) => "LOGIN",
            };
            format!("250-sink.test\r\n250-AUTH {auth}\r\n250 SIZE 10485760")
        } else if upper.starts_with("HELO") {
            "250 sink.test".into()
        } else if upper.starts_with("AUTH PLAIN") {
            let mut initial = cmd[10..].trim().to_string();
            if initial.is_empty() {
                w.write_all(b"334 \r\n").await?;
                line.clear();
                r.read_line(&mut line).await?;
                initial = line.trim().to_string();
            }
            // authzid \0 authcid \0 password
            let parts: Vec<String> = b64(&initial).split('\0').map(str::to_string).collect();
            if parts.len() == 3 {
                st.lock()
                    .expect("state")
                    .logins
                    .push(format!("{}:{}", parts[1], parts[2]));
            }
            match (echo, parts.as_slice()) {
                (Some(_), [_, user, pass]) => format!(
                    "535 5.7.8 Authentication failed for AUTH PLAIN {initial} (user {user}, password {pass})"
                ),
                _ => "235 2.7.0 Authentication successful".into(),
            }
        } else if upper.starts_with("AUTH LOGIN") {
            w.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
            line.clear();
            r.read_line(&mut line).await?;
            let user = b64(&line);
            w.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
            line.clear();
            r.read_line(&mut line).await?;
            let raw_pass = line.trim().to_string();
            let pass = b64(&line);
            st.lock()
                .expect("state")
                .logins
                .push(format!("{user}:{pass}"));
            match echo {
                Some(_) => format!(
                    "535 5.7.8 Authentication failed for AUTH LOGIN {} {raw_pass} (user {user}, password {pass})",
                    base64::engine::general_purpose::STANDARD.encode(&user)
                ),
                None => "235 2.7.0 Authentication successful".into(),
            }
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = cmd[10..].trim().to_string();
            rcpt_to.clear();
            "250 2.1.0 OK".into()
        } else if upper.starts_with("RCPT TO:") {
            if let Some(d) = delay(&st, Stage::Rcpt) {
                tokio::time::sleep(d).await;
            }
            match scripted(&st, Stage::Rcpt) {
                Some(r) => r,
                None => {
                    rcpt_to.push(cmd[8..].trim().to_string());
                    "250 2.1.5 OK".into()
                }
            }
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = Vec::new();
            loop {
                let mut l = Vec::new();
                if r.read_until(b'\n', &mut l).await? == 0 {
                    return Ok(());
                }
                if l == b".\r\n" || l == b".\n" {
                    break;
                }
                let l = if l.starts_with(b"..") {
                    &l[1..]
                } else {
                    &l[..]
                };
                data.extend_from_slice(l);
            }
            if let Some(d) = delay(&st, Stage::DataEnd) {
                tokio::time::sleep(d).await;
            }
            match scripted(&st, Stage::DataEnd) {
                Some(reply) => {
                    st.lock().expect("state").refused += 1;
                    reply
                }
                None => {
                    st.lock().expect("state").accepted.push(Received {
                        mail_from: mail_from.clone(),
                        rcpt_to: rcpt_to.clone(),
                        data,
                    });
                    "250 2.0.0 OK queued".into()
                }
            }
        } else if upper == "RSET" {
            mail_from.clear();
            rcpt_to.clear();
            "250 2.0.0 OK".into()
        } else if upper == "NOOP" {
            "250 2.0.0 OK".into()
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "500 5.5.2 Command not recognized".into()
        };
        // One write per reply (two small writes would meet Nagle and delayed ACKs).
        w.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}
