//! Property tests: the signature, route patterns against reference
//! implementations, and the accounting invariant under random event streams.

use proptest::prelude::*;
use secrecy::SecretString;
use twilert::event::ErrorCode;
use twilert::ingest::signature::{compute, Verifier};
use twilert::route::{CodePattern, SidPattern};

fn verifier(token: &str) -> Verifier {
    Verifier::new(vec![SecretString::from(token.to_string())])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Our signer and verifier agree for any parameters, in any order.
    #[test]
    fn signer_and_verifier_agree(
        token in "[ -~]{1,40}",
        path in "[a-z/]{0,20}",
        params in proptest::collection::vec(("[A-Za-z]{1,12}", "\\PC{0,40}"), 0..12),
    ) {
        let url = format!("https://alerts.example.com/{path}");
        let sig = compute(&token, &url, &params);
        let mut shuffled = params.clone();
        shuffled.reverse();
        prop_assert!(verifier(&token).verify_form(Some(&sig), &url, &shuffled).is_ok());
    }

    /// Any change of one byte — in a value, the URL or the signature — fails.
    #[test]
    fn any_changed_byte_fails(
        params in proptest::collection::vec(("[A-Za-z]{1,8}", "[ -~]{1,20}"), 1..8),
        which in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        part in 0u8..3,
    ) {
        let token = "tok";
        let url = "https://alerts.example.com/twilio/debugger".to_string();
        let sig = compute(token, &url, &params);
        let v = verifier(token);
        let flip = |s: &str, i: usize| -> String {
            let mut b = s.as_bytes().to_vec();
            let i = i % b.len();
            b[i] = if b[i] == b'~' { b'!' } else { b[i] + 1 };
            String::from_utf8_lossy(&b).into_owned()
        };
        match part {
            0 => {
                let mut p = params.clone();
                let k = which.index(p.len());
                p[k].1 = flip(&p[k].1, pos.index(p[k].1.len()));
                prop_assert!(v.verify_form(Some(&sig), &url, &p).is_err());
            }
            1 => {
                let u = flip(&url, 8 + pos.index(url.len() - 8));
                prop_assert!(v.verify_form(Some(&sig), &u, &params).is_err());
            }
            _ => {
                let s = flip(&sig, pos.index(sig.len() - 1));
                prop_assert!(v.verify_form(Some(&s), &url, &params).is_err());
            }
        }
    }

    /// `112xx`-style wildcards and `lo-hi` ranges match exactly what a naive
    /// reference says.
    #[test]
    fn code_patterns_match_the_reference(
        digits in proptest::collection::vec(prop_oneof![Just('x'), (0u8..10).prop_map(|d| (b'0' + d) as char)], 5..=6),
        lo in 10_000u32..99_999,
        span in 0u32..500,
        code in 10_000u32..999_999,
    ) {
        let wildcard: String = digits.iter().collect();
        let code = ErrorCode(code);
        match CodePattern::parse(&wildcard) {
            Ok(p) => {
                let s = code.0.to_string();
                let reference = s.len() == wildcard.len()
                    && s.chars().zip(wildcard.chars()).all(|(c, w)| w == 'x' || c == w);
                prop_assert_eq!(p.matches(code), reference, "{} vs {}", wildcard, code.0);
            }
            // Only wildcards that start with 0 (never match) are refused.
            Err(_) => prop_assert!(wildcard.starts_with('0'), "{} refused", wildcard),
        }
        let range = CodePattern::parse(&format!("{lo}-{}", lo + span)).expect("valid range");
        prop_assert_eq!(range.matches(code), lo <= code.0 && code.0 <= lo + span);
        let exact = CodePattern::parse(&lo.to_string()).expect("valid code");
        prop_assert_eq!(exact.matches(code), code.0 == lo);
    }

    /// Sid globs (`*`, `?`) match what a naive recursive matcher says.
    #[test]
    fn sid_globs_match_the_reference(glob in "[AC1*?]{1,8}", sid in "[AC1]{0,10}") {
        prop_assume!(glob.contains(['*', '?']));
        let p = SidPattern::parse(&glob).expect("glob parses");
        prop_assert_eq!(p.matches(&sid), naive_glob(glob.as_bytes(), sid.as_bytes()));
    }
}

fn naive_glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => naive_glob(&p[1..], s) || (!s.is_empty() && naive_glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => naive_glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => naive_glob(&p[1..], &s[1..]),
        _ => false,
    }
}

mod invariant {
    //! The accounting invariant (SPEC 4) holds after every step of a random stream
    //! of events, window ends, deliveries and failures, through the real engine and
    //! a real SQLite store.

    use super::*;
    use std::sync::Arc;
    use twilert::clock::ManualClock;
    use twilert::dispatch::{self, Settled, Wakers};
    use twilert::event::*;
    use twilert::store::{Reader, Store};

    const CONFIG: &str = r#"
[twilio]
verify_signature = false
[store]
path = "unused"
[defaults]
window = "10s"
[channels.a]
kind = "console"
target = "/dev/null"
max_pending = 4
[channels.b]
kind = "console"
target = "/dev/null"
[[routes]]
name = "voice"
error_codes = ["112xx"]
channels = ["a", "b"]
continue = true
[[routes]]
name = "all-voice"
error_codes = ["11xxx"]
channels = ["b"]
[[routes]]
name = "quiet"
error_codes = ["30003"]
mute = true
"#;

    #[derive(Debug, Clone)]
    enum Step {
        Event { code: u32, resource: u8 },
        Advance(u32),
        Tick,
        Deliver { channel: bool, dead: bool },
        RetryDead,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            5 => (prop::sample::select(vec![11200u32, 11205, 11750, 30003, 21211]), 0u8..4)
                .prop_map(|(code, resource)| Step::Event { code, resource }),
            1 => (0u32..15_000).prop_map(Step::Advance),
            1 => Just(Step::Tick),
            2 => (any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(channel, dead)| Step::Deliver { channel, dead }),
            1 => Just(Step::RetryDead),
        ]
    }

    fn event(n: u32, code: u32, resource: u8, now: i64) -> DebuggerEvent {
        DebuggerEvent {
            sid: Sid::parse(&format!("NO{n:032x}")).unwrap(),
            account_sid: Sid::parse(&format!("AC{:032x}", 1)).unwrap(),
            parent_account_sid: None,
            timestamp: None,
            level: Level::Error,
            payload: PayloadState::Parsed(Payload {
                error_code: ErrorCode(code),
                resource_sid: Some(format!("CA{resource:032x}")),
                service_sid: None,
                more_info: None,
                webhook: None,
            }),
            raw_payload: String::new(),
            received_at_ms: now,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn accepted_equals_the_sum_of_outcomes(steps in proptest::collection::vec(step(), 1..120)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let dir = tempfile::tempdir().unwrap();
                let db = dir.path().join("t.db");
                let cfg = CONFIG.replace("\"unused\"", &format!("{:?}", db.display().to_string()));
                let settings = twilert::config::from_toml_str(&cfg, "test", |_| None, Default::default()).unwrap();
                let runtime = Arc::new(twilert::runtime::Runtime::build(settings).unwrap());
                let clock = ManualClock::new(1_000_000);
                let (d, engine) = dispatch::spawn(
                    Store::open(&db).unwrap(), runtime, Arc::new(clock.clone()), Wakers::default(),
                    Arc::new(twilert::telemetry::Metrics::new()),
                ).unwrap();
                let reader = Reader::open(&db).unwrap();
                let mut sent = 0u32;
                for (i, s) in steps.iter().enumerate() {
                    match s {
                        Step::Event { code, resource } => {
                            d.ingest(event(i as u32, *code, *resource, 0)).await.unwrap();
                            // A Twilio retry of the same event changes nothing.
                            if i % 7 == 0 {
                                d.ingest(event(i as u32, *code, *resource, 0)).await.unwrap();
                            }
                        }
                        Step::Advance(ms) => clock.advance_ms(*ms as i64),
                        Step::Tick => d.tick().await,
                        Step::Deliver { channel, dead } => {
                            let ch = if *channel { "a" } else { "b" };
                            if let Some(q) = reader.due(ch, i64::MAX, 1).unwrap().into_iter().next() {
                                let r = if *dead { Settled::Dead { attempts: 1, error: "x".into() } } else { Settled::Sent };
                                d.settle(q.id, ch, r).await;
                                sent += 1;
                            }
                        }
                        Step::RetryDead => {
                            d.retry_dead(None).await.unwrap();
                        }
                    }
                    let snap = d.snapshot().await.unwrap();
                    prop_assert_eq!(snap.accounted(), snap.counters.accepted, "after step {} {:?}: {:?}", i, s, snap);
                }
                let _ = sent;
                d.stop();
                drop(d);
                let _ = engine.join();
                Ok(())
            })?;
        }
    }
}
