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
            source: Default::default(),
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
                                let r = if *dead { Settled::Dead { attempts: 1, error: "x".into() } } else { Settled::Sent { group_key: q.notification.group_key.clone(), receipt: None, replaces: false } };
                                d.settle(q.id, ch, r).await.expect("settled");
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

mod routing_table {
    //! Whole routing tables (SPEC 3) against a reference evaluator written from the
    //! spec: fields AND, items OR, excludes remove, first match wins unless
    //! `continue`, `[defaults].channels` catches what nothing matched, a missing
    //! code or Sid never matches a matcher and is never excluded.

    use super::naive_glob;
    use proptest::prelude::*;
    use twilert::event::{ErrorCode, Level};
    use twilert::route::{RouteInput, Router};

    const CODES: [u32; 6] = [11200, 11205, 11750, 30003, 21211, 11100];
    const SIDS: [&str; 3] = [
        "CA00000000000000000000000000000001",
        "CA000000000000000000000000000000a2",
        "PN00000000000000000000000000000003",
    ];
    const PRODUCTS: [&str; 2] = ["Programmable Voice", "Programmable SMS"];

    fn code_pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(CODES.to_vec()).prop_map(|c| c.to_string()),
            (prop::sample::select(CODES.to_vec()), 1usize..=3).prop_map(|(c, n)| {
                let s = c.to_string();
                format!("{}{}", &s[..s.len() - n], "x".repeat(n))
            }),
            (11_000u32..31_000, 0u32..2_000).prop_map(|(lo, span)| format!("{lo}-{}", lo + span)),
        ]
    }

    fn sid_pattern() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("CA*".to_string()),
            Just("PN*".to_string()),
            Just("*1".to_string()),
            Just("CA?0*".to_string()),
            prop::sample::select(SIDS.to_vec()).prop_map(str::to_string),
        ]
    }

    #[derive(Debug, Clone)]
    struct Route {
        codes: Vec<String>,
        not_codes: Vec<String>,
        resources: Vec<String>,
        not_resources: Vec<String>,
        services: Vec<String>,
        levels: Vec<&'static str>,
        products: Vec<&'static str>,
        continue_: bool,
        mute: bool,
    }

    fn route() -> impl Strategy<Value = Route> {
        let list = |s: BoxedStrategy<String>, max| prop::collection::vec(s, 0..=max);
        (
            list(code_pattern().boxed(), 3),
            list(code_pattern().boxed(), 2),
            list(sid_pattern().boxed(), 2),
            list(sid_pattern().boxed(), 1),
            list(sid_pattern().boxed(), 1),
            prop::sample::subsequence(vec!["error", "warning"], 0..=2),
            prop::sample::subsequence(PRODUCTS.to_vec(), 0..=1),
            prop::bool::weighted(0.3),
            prop::bool::weighted(0.2),
        )
            .prop_map(
                |(
                    codes,
                    not_codes,
                    resources,
                    not_resources,
                    services,
                    levels,
                    products,
                    continue_,
                    mute,
                )| Route {
                    codes,
                    not_codes,
                    resources,
                    not_resources,
                    services,
                    levels,
                    products,
                    continue_,
                    mute,
                },
            )
    }

    #[derive(Debug, Clone)]
    struct Input {
        code: Option<u32>,
        resource: Option<&'static str>,
        service: Option<&'static str>,
        level: Level,
        product: Option<&'static str>,
    }

    fn input() -> impl Strategy<Value = Input> {
        (
            prop::option::weighted(
                0.9,
                prop_oneof![prop::sample::select(CODES.to_vec()), 10_000u32..40_000],
            ),
            prop::option::of(prop::sample::select(SIDS.to_vec())),
            prop::option::of(prop::sample::select(SIDS.to_vec())),
            prop::sample::select(vec![Level::Error, Level::Warning]),
            prop::option::of(prop::sample::select(vec![
                "Programmable Voice",
                "programmable voice",
                "Programmable SMS",
            ])),
        )
            .prop_map(|(code, resource, service, level, product)| Input {
                code,
                resource,
                service,
                level,
                product,
            })
    }

    fn toml_list<T: AsRef<str>>(items: &[T]) -> String {
        let quoted: Vec<String> = items.iter().map(|s| format!("{:?}", s.as_ref())).collect();
        format!("[{}]", quoted.join(", "))
    }

    fn config(routes: &[Route], defaults: bool) -> String {
        let mut cfg = String::from(
            "[twilio]\nverify_signature = false\n[store]\npath = \"unused.db\"\n\
             [channels.c]\nkind = \"console\"\ntarget = \"/dev/null\"\n",
        );
        if defaults {
            cfg += "[defaults]\nchannels = [\"c\"]\n";
        }
        for (i, r) in routes.iter().enumerate() {
            cfg += &format!(
                "[[routes]]\nname = \"r{i}\"\nchannels = [\"c\"]\nerror_codes = {}\nexclude_error_codes = {}\n\
                 resource_sids = {}\nexclude_resource_sids = {}\nservice_sids = {}\nlevels = {}\nproducts = {}\n\
                 continue = {}\nmute = {}\n",
                toml_list(&r.codes),
                toml_list(&r.not_codes),
                toml_list(&r.resources),
                toml_list(&r.not_resources),
                toml_list(&r.services),
                toml_list(&r.levels),
                toml_list(&r.products),
                r.continue_,
                r.mute
            );
        }
        cfg
    }

    /// The spec's code patterns, read naively: `lo-hi`, digits with `x`, or a code.
    fn ref_code(p: &str, code: u32) -> bool {
        if let Some((lo, hi)) = p.split_once('-') {
            return lo.parse::<u32>().unwrap() <= code && code <= hi.parse::<u32>().unwrap();
        }
        let c = code.to_string();
        c.len() == p.len() && c.chars().zip(p.chars()).all(|(c, p)| p == 'x' || c == p)
    }

    fn ref_sids(pats: &[String], sid: Option<&str>) -> bool {
        sid.is_some_and(|s| pats.iter().any(|p| naive_glob(p.as_bytes(), s.as_bytes())))
    }

    fn ref_matches(r: &Route, i: &Input) -> bool {
        let codes = |pats: &[String]| i.code.is_some_and(|c| pats.iter().any(|p| ref_code(p, c)));
        (r.codes.is_empty() || codes(&r.codes))
            && !codes(&r.not_codes)
            && (r.resources.is_empty() || ref_sids(&r.resources, i.resource))
            && !ref_sids(&r.not_resources, i.resource)
            && (r.services.is_empty() || ref_sids(&r.services, i.service))
            && (r.levels.is_empty() || r.levels.contains(&i.level.as_str()))
            && (r.products.is_empty()
                || i.product
                    .is_some_and(|p| r.products.iter().any(|q| q.eq_ignore_ascii_case(p))))
    }

    fn reference(routes: &[Route], defaults: bool, i: &Input) -> Vec<String> {
        let mut out = vec![];
        for (n, r) in routes.iter().enumerate() {
            if ref_matches(r, i) {
                out.push(format!("r{n}"));
                if !r.continue_ {
                    return out;
                }
            }
        }
        if out.is_empty() && defaults {
            out.push("default".into());
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn routes_for_matches_the_reference(
            routes in prop::collection::vec(route(), 0..6),
            defaults in any::<bool>(),
            inputs in prop::collection::vec(input(), 1..24),
        ) {
            let cfg = config(&routes, defaults);
            let settings = twilert::config::from_toml_str(&cfg, "test", |_| None, Default::default())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{cfg}")))?;
            let router = Router::compile(&settings).map_err(|e| TestCaseError::fail(format!("{e:?}\n{cfg}")))?;
            for i in &inputs {
                let ri = RouteInput {
                    error_code: i.code.map(ErrorCode),
                    resource_sid: i.resource,
                    service_sid: i.service,
                    account_sid: "AC00000000000000000000000000000001",
                    parent_account_sid: None,
                    level: &i.level,
                    product: i.product,
                };
                let got: Vec<String> = router.routes_for(&ri).iter().map(|m| m.route.name.clone()).collect();
                let muted: Vec<bool> = router.routes_for(&ri).iter().map(|m| m.route.mute).collect();
                let want = reference(&routes, defaults, i);
                prop_assert_eq!(&got, &want, "input {:?}\n{}", i, cfg);
                let want_muted: Vec<bool> = want
                    .iter()
                    .map(|n| n.strip_prefix('r').and_then(|k| k.parse::<usize>().ok()).is_some_and(|k| routes[k].mute))
                    .collect();
                prop_assert_eq!(muted, want_muted);
            }
        }
    }
}
