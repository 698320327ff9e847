//! wrk as the independent load generator (closed loop: each connection sends its
//! next request when the last one is answered): the body template it fills, the
//! command, and what its `--latency` report says.

use crate::load::Outcome;
use std::path::Path;
use std::process::Command;

pub struct Wrk {
    pub threads: usize,
    pub connections: usize,
    pub warmup_secs: u64,
    pub secs: u64,
    /// scripts/bench/wrk-event.lua
    pub lua: String,
}

/// Whether `wrk` can be run here (scripts/bench.sh installs it).
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wrk"))
}

impl Wrk {
    /// The command line of one measured run, as printed beside the figures.
    pub fn command(&self, port: u16, distinct: bool) -> String {
        format!(
            "wrk -t{} -c{} -d{}s --latency -s {} http://127.0.0.1:{port}/twilio/debugger -- RUN {} BODY",
            self.threads,
            self.connections,
            self.secs,
            self.lua,
            u8::from(distinct)
        )
    }

    /// A warm-up run, then the measured one (each with its own Sids).
    pub fn measure(&self, port: u16, distinct: bool, body: &Path) -> Result<Outcome, String> {
        if self.warmup_secs > 0 {
            self.once(port, distinct, body, self.warmup_secs)?;
        }
        self.once(port, distinct, body, self.secs)
    }

    /// As [`Wrk::measure`] against several servers at once: one wrk per server,
    /// the threads and connections shared out between them, started together.
    /// The rate is the sum; p50 and p99 are the worst of the runs'.
    pub fn measure_split(
        &self,
        ports: &[u16],
        distinct: bool,
        body: &Path,
    ) -> Result<Outcome, String> {
        let n = ports.len().max(1);
        let part = Wrk {
            threads: (self.threads / n).max(1),
            connections: (self.connections / n).max(1),
            warmup_secs: self.warmup_secs,
            secs: self.secs,
            lua: self.lua.clone(),
        };
        let runs: Vec<Result<Outcome, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = ports
                .iter()
                .map(|&port| {
                    let part = &part;
                    s.spawn(move || part.measure(port, distinct, body))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("wrk thread panicked".into()))
                })
                .collect()
        });
        let mut total = Outcome {
            events: 0,
            secs: 0.0,
            p50_ms: 0.0,
            p99_ms: 0.0,
            errors: 0,
        };
        let mut rate = 0.0;
        for r in runs {
            let r = r?;
            rate += r.rate();
            total.events += r.events;
            total.errors += r.errors;
            total.p50_ms = total.p50_ms.max(r.p50_ms);
            total.p99_ms = total.p99_ms.max(r.p99_ms);
        }
        // The summed rate over the runs' common duration.
        total.secs = total.events as f64 / rate.max(1e-9);
        Ok(total)
    }

    fn once(&self, port: u16, distinct: bool, body: &Path, secs: u64) -> Result<Outcome, String> {
        let run = fastrand::u32(..0x7fff_ffff);
        let out = Command::new("wrk")
            .arg(format!("-t{}", self.threads))
            .arg(format!("-c{}", self.connections))
            .arg(format!("-d{secs}s"))
            .arg("--latency")
            .args(["-s", &self.lua])
            .arg(format!("http://127.0.0.1:{port}/twilio/debugger"))
            .arg("--")
            .arg(run.to_string())
            .arg(if distinct { "1" } else { "0" })
            .arg(body)
            .output()
            .map_err(|e| format!("cannot run wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        parse(&text).ok_or_else(|| {
            format!(
                "cannot read wrk's report: {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }
}

/// `1.50ms`, `812.00us`, `1.02s`, `2.00m` in milliseconds.
fn millis(v: &str) -> Option<f64> {
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = v.split_at(split);
    let n: f64 = n.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    })
}

/// Reads `N requests in Xs`, the 50 % and 99 % lines of the latency
/// distribution, non-2xx responses and socket errors.
pub fn parse(text: &str) -> Option<Outcome> {
    let (mut events, mut secs, mut p50, mut p99, mut errors) = (None, None, None, None, 0);
    for line in text.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [n, "requests", "in", t, ..] => {
                events = n.parse::<usize>().ok();
                secs = millis(t.trim_end_matches(',')).map(|ms| ms / 1000.0);
            }
            ["50%", v] => p50 = millis(v),
            ["99%", v] => p99 = millis(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<usize>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<usize>().ok())
                    .sum::<usize>()
            }
            _ => {}
        }
    }
    Some(Outcome {
        events: events?,
        secs: secs?,
        p50_ms: p50?,
        p99_ms: p99?,
        errors,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_wrk_report() {
        let r = super::parse(
            "Running 8s test @ http://127.0.0.1:1/twilio/debugger\n  2 threads and 32 connections\n  \
             Latency Distribution\n     50%  812.00us\n     75%    1.20ms\n     90%    2.00ms\n     99%    6.40ms\n  \
             158000 requests in 8.00s, 20.10MB read\n  Socket errors: connect 0, read 1, write 0, timeout 2\n  \
             Non-2xx or 3xx responses: 3\nRequests/sec:  19750.00\n",
        )
        .expect("parsed");
        assert_eq!((r.events, r.errors), (158_000, 6));
        assert!((r.rate() - 19_750.0).abs() < 1.0);
        assert!((r.p50_ms - 0.812).abs() < 1e-9 && (r.p99_ms - 6.4).abs() < 1e-9);
    }
}
