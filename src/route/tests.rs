use super::*;
use crate::event::Sid;
use crate::event::{Payload, PayloadState};

const ACCOUNT: &str = "AC00000000000000000000000000000001";
const CHANNELS: &str = r#"
[channels.ops]
kind = "console"
[channels.oncall]
kind = "console"
"#;

fn settings(toml: &str) -> Settings {
    ::config::Config::builder()
        .add_source(::config::File::from_str(toml, ::config::FileFormat::Toml))
        .build()
        .expect("valid TOML")
        .try_deserialize::<Settings>()
        .expect("valid settings")
}

fn router(routes: &str) -> Router {
    Router::compile(&settings(&format!("{CHANNELS}{routes}"))).expect("router compiles")
}

fn errors(routes: &str) -> Vec<String> {
    Router::compile(&settings(&format!("{CHANNELS}{routes}"))).expect_err("router rejected")
}

fn event(code: Option<u32>, resource_sid: Option<&str>, level: Level) -> DebuggerEvent {
    let payload = match code {
        Some(c) => PayloadState::Parsed(Payload {
            error_code: ErrorCode(c),
            resource_sid: resource_sid.map(Into::into),
            service_sid: None,
            more_info: None,
            webhook: None,
        }),
        None => PayloadState::Unreadable {
            reason: "not JSON".into(),
            resource_sid: resource_sid.map(Into::into),
        },
    };
    DebuggerEvent {
        sid: Sid::parse("NO00000000000000000000000000000001").expect("sid"),
        account_sid: Sid::parse(ACCOUNT).expect("sid"),
        parent_account_sid: None,
        timestamp: None,
        level,
        payload,
        raw_payload: "{}".into(),
        received_at_ms: 0,
        source: Default::default(),
    }
}

fn input<'a>(ev: &'a DebuggerEvent, product: Option<&'a str>) -> RouteInput<'a> {
    RouteInput::from_event(ev, product)
}

/// Names of the routes an event goes to.
fn names(
    r: &Router,
    code: Option<u32>,
    sid: Option<&str>,
    level: Level,
    product: Option<&str>,
) -> Vec<String> {
    let ev = event(code, sid, level);
    r.routes_for(&input(&ev, product))
        .into_iter()
        .map(|m| m.route.name.clone())
        .collect()
}

fn code(raw: &str) -> CodePattern {
    CodePattern::parse(raw).expect("valid code pattern")
}

#[test]
fn exact_code() {
    let p = code("11200");
    assert_eq!(p, CodePattern::Exact(ErrorCode(11200)));
    assert!(p.matches(ErrorCode(11200)));
    assert!(!p.matches(ErrorCode(11201)));
    assert_eq!(p.to_string(), "11200");
    assert!(code(" 404 ").matches(ErrorCode(404)));
}

#[test]
fn wildcard_trailing_inner_and_length() {
    let p = code("112xx");
    assert!(p.matches(ErrorCode(11200)));
    assert!(p.matches(ErrorCode(11299)));
    assert!(!p.matches(ErrorCode(11300)));
    assert!(!p.matches(ErrorCode(11199)));
    assert!(!p.matches(ErrorCode(1120)), "fewer digits");
    assert!(!p.matches(ErrorCode(112000)), "more digits");
    assert!(!p.matches(ErrorCode(211200)));
    let inner = code("3x0X1");
    assert!(inner.matches(ErrorCode(30001)));
    assert!(inner.matches(ErrorCode(39091)));
    assert!(!inner.matches(ErrorCode(30101)));
    assert!(!inner.matches(ErrorCode(30002)));
    assert_eq!(inner.to_string(), "3x0x1");
    let any5 = code("xxxxx");
    assert!(any5.matches(ErrorCode(10000)));
    assert!(any5.matches(ErrorCode(99999)));
    assert!(!any5.matches(ErrorCode(9999)));
    assert!(code("4560xx").matches(ErrorCode(456001)));
}

#[test]
fn range_inclusive_edges() {
    let p = code("30001-30010");
    assert_eq!(p.to_string(), "30001-30010");
    assert!(p.matches(ErrorCode(30001)));
    assert!(p.matches(ErrorCode(30010)));
    assert!(!p.matches(ErrorCode(30000)));
    assert!(!p.matches(ErrorCode(30011)));
    assert!(code("30005-30005").matches(ErrorCode(30005)));
    assert!(code("400 - 410").matches(ErrorCode(404)));
}

#[test]
fn code_pattern_errors() {
    let msg = |raw: &str| CodePattern::parse(raw).expect_err(raw).to_string();
    let generic = "is not a code, a wildcard like \"112xx\" or a range like \"30001-30010\"";
    assert!(
        msg("11x0").starts_with(&format!("\"11x0\" {generic}")),
        "{}",
        msg("11x0")
    );
    assert!(msg("3000-").starts_with(&format!("\"3000-\" {generic}")));
    assert!(msg("-3000").contains(generic));
    assert!(msg("abc").contains(generic));
    assert!(msg("1120a").contains(generic));
    assert!(msg("1234567").contains(generic));
    assert!(msg("1-2-3").contains(generic));
    assert_eq!(
        msg("30010-30001"),
        "\"30010-30001\" is a reversed range: 30010 is above 30001"
    );
    assert!(msg("").starts_with("\"\" is empty; expected a code like \"11200\""));
    assert!(msg("   ").contains("is empty"));
    assert!(msg("0112x").contains("can never match"));
}

#[test]
fn sid_patterns_exact_and_glob() {
    let pn = SidPattern::parse("PN*").expect("glob");
    assert!(pn.matches("PN0123456789abcdef0123456789abcdef"));
    assert!(
        !pn.matches("pn0123456789abcdef0123456789abcdef"),
        "case-sensitive"
    );
    assert!(!pn.matches("CA0123456789abcdef0123456789abcdef"));
    let ca = SidPattern::parse("CA??12*").expect("glob");
    assert!(ca.matches("CAab12cdef0123456789abcdef01234567"));
    assert!(!ca.matches("CAa12cdef0123456789abcdef012345678"));
    assert_eq!(ca.to_string(), "CA??12*");
    let exact = SidPattern::parse("CA0123456789abcdef0123456789abcdef").expect("sid");
    assert!(exact.matches("CA0123456789abcdef0123456789abcdef"));
    assert!(!exact.matches("CA0123456789abcdef0123456789abcdee"));
    for bad in ["PN123", "PN *", "P[N]*"] {
        let e = SidPattern::parse(bad).expect_err(bad).to_string();
        assert!(e.contains("is neither a Sid"), "{e}");
    }
    assert!(SidPattern::parse("")
        .expect_err("empty")
        .to_string()
        .contains("is empty"));
}

#[test]
fn levels_any_case_and_products_case_insensitive() {
    let r = router(
        r#"
[[routes]]
name = "warn"
channels = ["ops"]
levels = ["WARNING", "Debug"]
[[routes]]
name = "voice"
channels = ["ops"]
products = ["programmable voice"]
"#,
    );
    assert_eq!(names(&r, Some(1), None, Level::Warning, None), ["warn"]);
    assert_eq!(names(&r, Some(1), None, Level::Debug, None), ["warn"]);
    assert_eq!(
        names(&r, Some(1), None, Level::Error, Some("Programmable Voice")),
        ["voice"]
    );
    assert!(names(&r, Some(1), None, Level::Error, Some("Programmable SMS")).is_empty());
    assert!(
        names(&r, Some(1), None, Level::Error, None).is_empty(),
        "unknown product"
    );
    let e = errors("[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\nlevels = [\"loud\"]\n");
    assert_eq!(
        e,
        [
            r#"routes[0] ("x").levels[0]: "loud" is not a level; expected error, warning, info or debug"#
        ]
    );
}

#[test]
fn fields_and_items_or_excludes_remove() {
    let r = router(
        r#"
[[routes]]
name = "sms"
channels = ["ops"]
error_codes = ["300xx", "21610"]
exclude_error_codes = ["30007"]
resource_sids = ["SM*", "MM*"]
exclude_resource_sids = ["SM0000*"]
"#,
    );
    let sm = "SM1234567890abcdef1234567890abcdef";
    assert_eq!(
        names(&r, Some(30003), Some(sm), Level::Error, None),
        ["sms"]
    );
    assert_eq!(
        names(&r, Some(21610), Some("MMff"), Level::Error, None),
        ["sms"]
    );
    assert!(
        names(&r, Some(30007), Some(sm), Level::Error, None).is_empty(),
        "excluded code"
    );
    assert!(
        names(&r, Some(30003), Some("SM0000ab"), Level::Error, None).is_empty(),
        "excluded sid"
    );
    assert!(
        names(&r, Some(30003), Some("CA12"), Level::Error, None).is_empty(),
        "AND"
    );
    assert!(
        names(&r, Some(11200), Some(sm), Level::Error, None).is_empty(),
        "AND"
    );
    assert!(
        names(&r, Some(30003), None, Level::Error, None).is_empty(),
        "missing sid never matches"
    );
}

#[test]
fn missing_values_semantics() {
    let r = router(
        r#"
[[routes]]
name = "codes"
channels = ["ops"]
error_codes = ["xxxxx"]
continue = true
[[routes]]
name = "not-11200"
channels = ["ops"]
exclude_error_codes = ["11200"]
exclude_resource_sids = ["CA*"]
continue = true
[[routes]]
name = "services"
channels = ["ops"]
service_sids = ["MG*"]
"#,
    );
    // Unreadable payload: no code; only routes without error_codes; excludes don't bite.
    assert_eq!(names(&r, None, None, Level::Error, None), ["not-11200"]);
    assert!(
        names(&r, None, Some("CA12"), Level::Error, None).is_empty(),
        "a present sid is still excluded"
    );
    assert_eq!(
        names(&r, None, Some("PN12"), Level::Error, None),
        ["not-11200"]
    );
    assert_eq!(names(&r, Some(11200), None, Level::Error, None), ["codes"]);
    assert_eq!(
        names(&r, Some(30003), None, Level::Error, None),
        ["codes", "not-11200"]
    );
}

#[test]
fn first_match_wins_continue_and_mute() {
    let r = router(
        r#"
[[routes]]
name = "audit"
channels = ["oncall"]
levels = ["error"]
continue = true
[[routes]]
name = "noisy"
mute = true
error_codes = ["11200"]
[[routes]]
name = "voice"
channels = ["ops"]
error_codes = ["11xxx"]
[[routes]]
name = "also-voice"
channels = ["ops"]
error_codes = ["112xx"]
"#,
    );
    assert_eq!(
        names(&r, Some(11200), None, Level::Error, None),
        ["audit", "noisy"]
    );
    assert_eq!(
        names(&r, Some(11205), None, Level::Error, None),
        ["audit", "voice"]
    );
    assert_eq!(
        names(&r, Some(11205), None, Level::Warning, None),
        ["voice"]
    );
    let ev = event(Some(11200), None, Level::Warning);
    let matches = r.routes_for(&input(&ev, None));
    assert!(matches[0].route.mute && matches[0].route.channels.is_empty());
    assert!(
        matches[0].reasons.is_empty(),
        "routes_for leaves reasons empty"
    );
}

#[test]
fn explain_gives_reasons() {
    let r = router(
        r#"
[[routes]]
name = "voice"
channels = ["ops"]
error_codes = ["11200", "112xx"]
levels = ["ERROR"]
exclude_resource_sids = ["PN*"]
continue = true
[[routes]]
name = "all"
channels = ["ops"]
"#,
    );
    let ev = event(Some(11205), Some("CA12"), Level::Error);
    let m = r.explain(&input(&ev, None));
    assert_eq!(
        m[0].reasons,
        [
            "error_codes matched \"112xx\"",
            "levels matched \"error\"",
            "not excluded by exclude_resource_sids"
        ]
    );
    assert_eq!(m[1].reasons, ["no matchers"]);
    assert_eq!(
        r.routes()[0].describe_matchers(),
        "error_codes=[11200,112xx] exclude_resource_sids=[PN*] levels=[error]"
    );
    assert_eq!(r.routes()[1].describe_matchers(), "(matches everything)");
}

#[test]
fn defaults_fallback_and_unrouted() {
    let toml = format!(
        "{CHANNELS}[defaults]\nchannels = [\"oncall\"]\nwindow = \"10m\"\ngroup_by = [\"level\"]\n\
         [[routes]]\nname = \"voice\"\nchannels = [\"ops\"]\nerror_codes = [\"11200\"]\nwindow = \"30s\"\n"
    );
    let r = Router::compile(&settings(&toml)).expect("compiles");
    assert_eq!(names(&r, Some(11200), None, Level::Error, None), ["voice"]);
    assert_eq!(r.routes()[0].window, Duration::from_secs(30));
    assert_eq!(
        r.routes()[0].group_by,
        [GroupField::Level],
        "inherits defaults"
    );
    let ev = event(Some(30003), None, Level::Error);
    let m = r.routes_for(&input(&ev, None));
    assert_eq!(m.len(), 1);
    let d = &m[0].route;
    assert_eq!((d.name.as_str(), d.index), (DEFAULT_ROUTE, None));
    assert_eq!(d.channels, ["oncall"]);
    assert_eq!(d.window, Duration::from_secs(600));
    assert_eq!(d.group_by, [GroupField::Level]);
    assert!(r.warnings().is_empty());

    let r =
        router("[[routes]]\nname = \"voice\"\nchannels = [\"ops\"]\nerror_codes = [\"11200\"]\n");
    assert!(
        names(&r, Some(30003), None, Level::Error, None).is_empty(),
        "unrouted"
    );
    assert_eq!(r.routes()[0].window, Duration::from_secs(300));
    assert_eq!(
        r.routes()[0].group_by,
        [GroupField::ErrorCode, GroupField::ResourceSid]
    );
}

#[test]
fn unreachable_after_catch_all() {
    let r = router(
        r#"
[[routes]]
name = "first"
channels = ["ops"]
error_codes = ["11200"]
[[routes]]
name = "everything"
mute = true
[[routes]]
name = "late"
channels = ["ops"]
levels = ["error"]
[[routes]]
name = "later"
channels = ["ops"]
"#,
    );
    let why = r#"routes[1] ("everything") matches every event and has no continue = true"#;
    assert_eq!(
        r.warnings(),
        [
            format!(r#"routes[2] ("late"): unreachable, {why}"#),
            format!(r#"routes[3] ("later"): unreachable, {why}"#),
        ]
    );
    let r = router("[[routes]]\nname = \"tap\"\nchannels = [\"ops\"]\ncontinue = true\n[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\n");
    assert!(
        r.warnings().is_empty(),
        "continue = true keeps later routes reachable"
    );
    let r = router("[[routes]]\nname = \"not-one\"\nchannels = [\"ops\"]\nexclude_error_codes = [\"1\"]\n[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\n");
    assert!(r.warnings().is_empty(), "an exclude is a matcher");
}

#[test]
fn all_errors_collected_with_route_and_item() {
    let e = errors(
        r#"
[[routes]]
name = "voice"
channels = ["ops", "slak"]
[[routes]]
name = "voice"
channels = ["ops", "ops"]
[[routes]]
name = "sms-failures"
channels = ["ops"]
error_codes = ["30001", "11x0", "30010-30001"]
resource_sids = ["PN123"]
[[routes]]
name = ""
channels = []
"#,
    );
    assert_eq!(
        e,
        [
            r#"routes[0] ("voice").channels[1]: unknown channel "slak"; defined channels: "oncall", "ops""#,
            r#"routes[1] ("voice").name: duplicate, also used by routes[0]; names must be unique"#,
            r#"routes[1] ("voice").channels[1]: "ops" is listed twice"#,
            r#"routes[2] ("sms-failures").error_codes[1]: "11x0" is not a code, a wildcard like "112xx" or a range like "30001-30010" (a wildcard has 5 or 6 positions, like Twilio's codes)"#,
            r#"routes[2] ("sms-failures").error_codes[2]: "30010-30001" is a reversed range: 30010 is above 30001"#,
            r#"routes[2] ("sms-failures").resource_sids[0]: "PN123" is neither a Sid (two letters and 32 hex digits) nor a glob like "PN*" or "CA??12*" (letters, digits, * and ? only)"#,
            r#"routes[3] ("").name: is empty; every route needs a unique name"#,
            r#"routes[3] ("").channels: is empty; list at least one channel, or set mute = true"#,
        ]
    );
}

#[test]
fn defaults_channel_errors_and_reserved_name() {
    let toml = format!(
        "{CHANNELS}[defaults]\nchannels = [\"ops\", \"pager\"]\n\
         [[routes]]\nname = \"default\"\nchannels = [\"ops\"]\n"
    );
    let e = Router::compile(&settings(&toml)).expect_err("rejected");
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(
        e[0],
        r#"defaults.channels[1]: unknown channel "pager"; defined channels: "oncall", "ops""#
    );
    assert!(
        e[1].starts_with(r#"routes[0] ("default").name: reserved"#),
        "{}",
        e[1]
    );
    let e = Router::compile(&settings(
        "[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\n",
    ))
    .expect_err("no channels");
    assert!(
        e[0].ends_with("defined channels: none (add a [channels.<name>] table)"),
        "{}",
        e[0]
    );
}

#[test]
fn group_key_fields_and_missing_values() {
    let r = router(
        r#"
[[routes]]
name = "voice"
channels = ["ops"]
[[routes]]
name = "wide"
channels = ["ops"]
group_by = ["product", "service_sid", "account_sid", "level", "error_code"]
"#,
    );
    let ca = "CA0123456789abcdef0123456789abcdef";
    let ev = event(Some(11200), Some(ca), Level::Error);
    assert_eq!(
        group_key(&r.routes()[0], &ev, None),
        format!("voice|error_code=11200|resource_sid={ca}")
    );
    assert_eq!(
        group_key(&r.routes()[0], &ev, None),
        group_key(&r.routes()[0], &ev.clone(), None),
        "stable"
    );
    let unreadable = event(None, None, Level::Warning);
    assert_eq!(
        group_key(&r.routes()[0], &unreadable, None),
        "voice|error_code=-|resource_sid=-"
    );
    assert_eq!(
        group_key(&r.routes()[1], &unreadable, Some("Programmable Voice")),
        format!("wide|product=Programmable Voice|service_sid=-|account_sid={ACCOUNT}|level=warning|error_code=-")
    );
}

#[test]
fn parent_account_sids_exact_and_glob_roll_up_subaccounts() {
    let r = router(
        r#"
[[routes]]
name = "parent"
channels = ["ops"]
parent_account_sids = ["AC0000000000000000000000000000000a", "ACbb*"]
[[routes]]
name = "rest"
channels = ["oncall"]
"#,
    );
    let with_parent = |parent: Option<&str>| {
        let mut ev = event(Some(11200), Some("CA1"), Level::Error);
        ev.parent_account_sid = parent.map(Into::into);
        r.routes_for(&input(&ev, None))
            .into_iter()
            .map(|m| m.route.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        with_parent(Some("AC0000000000000000000000000000000a")),
        ["parent"]
    );
    assert_eq!(
        with_parent(Some("ACbb000000000000000000000000000001")),
        ["parent"]
    );
    assert_eq!(
        with_parent(Some("ACcc000000000000000000000000000001")),
        ["rest"]
    );
    assert_eq!(with_parent(None), ["rest"], "a main account's own event");
    assert_eq!(with_parent(Some("")), ["rest"], "Twilio sends it empty");
    let ev = {
        let mut ev = event(Some(11200), None, Level::Error);
        ev.parent_account_sid = Some("ACbb1".into());
        ev
    };
    let m = r.explain(&input(&ev, None));
    assert!(
        m[0].reasons
            .iter()
            .any(|x| x.contains("parent_account_sids matched")),
        "{:?}",
        m[0].reasons
    );
    assert!(r.routes()[0]
        .describe_matchers()
        .contains("parent_account_sids=[AC0000000000000000000000000000000a,ACbb*]"));
    let e =
        errors("[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\nparent_account_sids = [\"\"]\n");
    assert!(
        e[0].starts_with(r#"routes[0] ("x").parent_account_sids[0]"#),
        "{e:?}"
    );
}

#[test]
fn products_matcher_uses_the_sid_prefix_when_the_catalog_has_none() {
    let r = router(
        r#"
[[routes]]
name = "voice"
channels = ["ops"]
products = ["Programmable Voice"]
"#,
    );
    let catalog = crate::catalog::Catalog::builtin();
    // 11200 has no product in Twilio's catalog; the call Sid says Voice.
    let ev = event(
        Some(11200),
        Some("CA00000000000000000000000000000001"),
        Level::Error,
    );
    let product = crate::product::of_event(&catalog, &ev);
    assert_eq!(product, Some("Programmable Voice"));
    assert_eq!(r.routes_for(&input(&ev, product)).len(), 1);
    let ev = event(
        Some(11200),
        Some("SM00000000000000000000000000000001"),
        Level::Error,
    );
    let product = crate::product::of_event(&catalog, &ev);
    assert_eq!(product, Some("Programmable Messaging"));
    assert!(r.routes_for(&input(&ev, product)).is_empty());
}
