//! Escaping per target. Event text is untrusted: whatever it holds, the escaped
//! form keeps the payload valid, pings nobody and renders as text.
//!
//! Each Handlebars registry gets one [`Flavor`]'s escape function, so `{{x}}` in a
//! Slack template is Slack-safe and in an HTML email is HTML-safe. Every flavor
//! first makes control and bidi characters inert ([`super::untrusted::inert`]);
//! then Slack and Teams get lookalikes for their Markdown markers (neither has a
//! reliable backslash escape), Discord backslash escapes, HTML entities.

use super::untrusted::{inert, is_bidi};

/// Zero-width space, put after `@` so `@here` shows but does not notify.
const ZWSP: char = '\u{200B}';

/// Words that notify a whole channel when written as `@word`.
const BROADCASTS: [&str; 3] = ["here", "channel", "everyone"];

/// One escaping family; each has its own Handlebars registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Flavor {
    /// Slack Block Kit JSON: JSON string + Slack's `&`/`<`/`>` entities + broken
    /// `@here` + mrkdwn markers as lookalikes.
    Slack,
    /// Teams Adaptive Card JSON: JSON string + Markdown markers as lookalikes.
    Teams,
    /// Discord JSON: JSON string + broken `@everyone`/`@here` + markdown escaped.
    Discord,
    /// Generic JSON (webhook, PagerDuty): JSON string.
    Json,
    /// Email HTML body: HTML-escaped.
    Html,
    /// Email plain-text body: as is.
    Text,
    /// Email subject: one line.
    Subject,
    /// Terminal text: one line per value, control characters (ANSI escapes) made visible.
    Console,
}

impl Flavor {
    pub(crate) const ALL: [Flavor; 8] = [
        Flavor::Slack,
        Flavor::Teams,
        Flavor::Discord,
        Flavor::Json,
        Flavor::Html,
        Flavor::Text,
        Flavor::Subject,
        Flavor::Console,
    ];

    /// Escapes untrusted text for this target (`{{x}}`).
    pub(crate) fn escape(self, s: &str) -> String {
        if self == Flavor::Console {
            let s = s.replace("\r\n", "\n").replace('\n', " ↵ ");
            return visible_controls(&strip_bidi(&s));
        }
        let s = inert(s);
        match self {
            Flavor::Slack => json_escape(&slack_text(&unlinked(&s))),
            Flavor::Teams => json_escape(&teams_text(&unlinked(&s))),
            Flavor::Json => json_escape(&s),
            Flavor::Discord => json_escape(&discord_text(&unlinked(&s))),
            Flavor::Html => html_escape(&s),
            Flavor::Text => s.into_owned(),
            Flavor::Subject => one_line(&s),
            Flavor::Console => visible_controls(&s),
        }
    }

    /// Escapes trusted configuration text (a route's `mention`): valid in the
    /// target's syntax, but markup such as `<!here>` keeps its meaning.
    pub(crate) fn escape_trusted(self, s: &str) -> String {
        let s = &*inert(s);
        match self {
            Flavor::Slack | Flavor::Teams | Flavor::Discord | Flavor::Json => json_escape(s),
            Flavor::Html => html_escape(s),
            Flavor::Text => s.to_string(),
            Flavor::Subject => one_line(s),
            Flavor::Console => visible_controls(s),
        }
    }

    /// Whether the rendered output is a JSON document.
    pub(crate) fn is_json(self) -> bool {
        matches!(
            self,
            Flavor::Slack | Flavor::Teams | Flavor::Discord | Flavor::Json
        )
    }
}

/// The inside of a JSON string literal (no surrounding quotes).
pub(crate) fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Slack text (before JSON): `&`, `<`, `>` as entities so `<!channel>`,
/// `<@U123>` and `<http://x|y>` stay text; bare `@here`-style words broken;
/// mrkdwn markers (`*bold*`, `_it_`, `~s~`, backticks, a leading `>`) as
/// lookalikes so nothing formats.
pub(crate) fn slack_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (c, line_start) in markers(s) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' if line_start => out.push('›'),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    break_broadcasts(&out)
}

/// Teams text (before JSON): Adaptive Card Markdown markers as lookalikes, so
/// `[label](url)` is no link, `**x**`/`_x_` no emphasis, `# x` no heading and
/// backticks no code.
pub(crate) fn teams_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (c, line_start) in markers(s) {
        match c {
            '[' => out.push('［'),
            ']' => out.push('］'),
            '<' => out.push('‹'),
            '>' => out.push('›'),
            '#' if line_start => out.push('＃'),
            c => out.push(c),
        }
    }
    out
}

/// The characters of `s` with the emphasis and code markers shared by Slack and
/// Teams replaced by lookalikes (`*` → `∗`, `~` → `∼`, `` ` `` → `ˋ`, `_` → `ˍ`
/// unless inside a word such as `status_callback`), each with whether it
/// starts a line (after spaces).
fn markers(s: &str) -> impl Iterator<Item = (char, bool)> + '_ {
    let mut prev: Option<char> = None;
    let mut line_start = true;
    let mut chars = s.chars().peekable();
    std::iter::from_fn(move || {
        let c = chars.next()?;
        let next = chars.peek().copied();
        let in_word =
            prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric);
        let at_start = line_start;
        let out = match c {
            '*' => '∗',
            '~' => '∼',
            '`' => 'ˋ',
            '_' if !in_word => 'ˍ',
            c => c,
        };
        line_start = c == '\n' || (line_start && c == ' ');
        prev = Some(c);
        Some((out, at_start))
    })
}

/// `https://x` as `https꞉//x` (a modifier-letter colon), so chat clients that
/// turn bare URLs into links (Slack, Teams, Discord) show event URLs as text.
pub(crate) fn unlinked(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains("://") {
        std::borrow::Cow::Owned(s.replace("://", "\u{A789}//"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Bidi overrides and isolates removed (the console shows other controls as `\u{..}`).
fn strip_bidi(s: &str) -> String {
    s.chars().filter(|&c| !is_bidi(c)).collect()
}

/// Discord text (before JSON): `@everyone`/`@here` broken and Markdown
/// backslash-escaped, so text shows as written: `\ * _ ~ ` | [ ] <` anywhere,
/// `- # >` at the start of a line (lists, headings, quotes).
pub(crate) fn discord_text(s: &str) -> String {
    let broken = break_broadcasts(s);
    let mut out = String::with_capacity(broken.len() + 8);
    let mut line_start = true;
    for c in broken.chars() {
        let special = matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<')
            || (line_start && matches!(c, '-' | '#' | '>'));
        if special {
            out.push('\\');
        }
        out.push(c);
        line_start = c == '\n' || (line_start && c == ' ');
    }
    out
}

/// Puts a zero-width space after the `@` of `@here`, `@channel`, `@everyone`
/// (any case).
pub(crate) fn break_broadcasts(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let starts_broadcast = BROADCASTS.iter().any(|w| {
            rest.get(..w.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(w))
        });
        if starts_broadcast {
            out.push(ZWSP);
        }
    }
    out.push_str(rest);
    out
}

/// HTML text and attribute escaping.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '`' => out.push_str("&#x60;"),
            '=' => out.push_str("&#x3D;"),
            c => out.push(c),
        }
    }
    out
}

/// One line: line breaks and other control characters become spaces.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Control characters other than newline and tab shown as `\u{..}` so an event
/// cannot move the cursor or recolour a terminal.
pub(crate) fn visible_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escape_round_trips_through_serde() {
        let nasty = "q\"b\\s\nnl\r\t\u{1}x }]} 🚨";
        let doc = format!("\"{}\"", json_escape(nasty));
        let back: String = serde_json::from_str(&doc).expect("valid JSON string");
        assert_eq!(back, nasty);
    }

    #[test]
    fn slack_neutralises_mentions_and_links() {
        let s = Flavor::Slack.escape("<!channel> <@U123> <http://x|y> a&b @here @Channel");
        assert!(!s.contains('<') && !s.contains('>'));
        assert!(s.contains("&lt;!channel&gt;"));
        assert!(s.contains("a&amp;b"));
        assert!(s.contains("@\u{200B}here") && s.contains("@\u{200B}Channel"));
    }

    #[test]
    fn slack_mrkdwn_markers_do_not_format() {
        let s = slack_text("*bold* _it_ ~s~ `c` ```block``` status_callback a*b\n> quote");
        for bad in ["*", "~", "`", "_it_", "\n>"] {
            assert!(!s.contains(bad), "{bad:?} in {s}");
        }
        assert!(s.contains("∗bold∗ ˍitˍ ∼s∼ ˋcˋ ˋˋˋblockˋˋˋ"), "{s}");
        assert!(
            s.contains("status_callback"),
            "identifiers keep their underscore"
        );
        assert!(s.ends_with("\n› quote"), "{s}");
    }

    #[test]
    fn chat_flavors_leave_no_bare_url() {
        for f in [Flavor::Slack, Flavor::Teams, Flavor::Discord] {
            let out = f.escape("go to https://evil.example/login now");
            assert!(
                !out.contains("://") && out.contains("https꞉//evil.example/login"),
                "{f:?}: {out}"
            );
        }
        assert_eq!(Flavor::Json.escape("https://x"), "https://x");
        assert_eq!(Flavor::Html.escape("https://x"), "https://x");
    }

    #[test]
    fn teams_markdown_is_text() {
        let s = teams_text("[Reset your Twilio password](https://evil.example/login) **b** _i_\n# H\n`c` <https://x>");
        for bad in ["[", "](", "**", "_i_", "\n#", "`", "<"] {
            assert!(!s.contains(bad), "{bad:?} in {s}");
        }
        assert!(s.contains("［Reset your Twilio password］(https://evil.example/login)"));
        assert!(s.contains("\n＃ H"));
    }

    #[test]
    fn every_flavor_makes_controls_inert() {
        for f in Flavor::ALL {
            let out = f.escape("a\u{7}b\u{202E}c\u{1b}d\u{2066}e");
            assert!(
                !out.contains('\u{7}')
                    && !out.contains('\u{202E}')
                    && !out.contains('\u{2066}')
                    && !out.contains('\u{1b}'),
                "{f:?}: {out:?}"
            );
            let out = f.escape_trusted("x\u{202D}y\u{8}");
            assert!(
                !out.contains('\u{202D}') && !out.contains('\u{8}'),
                "{f:?}: {out:?}"
            );
        }
        assert_eq!(Flavor::Json.escape("a\u{7}b\u{202E}c"), "a␇bc");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever the text, each flavor's escape keeps it out of the markup.
        #[test]
        fn escaped_text_is_never_markup(s in proptest::prelude::any::<String>(),
                                        t in "[*_~`<>\\[\\]()#@!&|a-z \n]{0,60}") {
            for s in [s, t] {
                for f in Flavor::ALL {
                    let out = f.escape(&s);
                    proptest::prop_assert!(!out.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')), "{:?}: {:?}", f, out);
                    if f.is_json() {
                        let back: Result<String, _> = serde_json::from_str(&format!("\"{out}\""));
                        proptest::prop_assert!(back.is_ok(), "{:?}: not a JSON string: {:?}", f, out);
                    }
                }
                let slack = slack_text(&s);
                proptest::prop_assert!(!slack.contains(['*', '~', '`', '<', '>']), "{:?}", slack);
                for (i, _) in slack.match_indices('_') {
                    let before = slack[..i].chars().next_back().is_some_and(char::is_alphanumeric);
                    let after = slack[i + 1..].chars().next().is_some_and(char::is_alphanumeric);
                    proptest::prop_assert!(before && after, "a _ that can open italics: {:?}", slack);
                }
                let teams = teams_text(&s);
                proptest::prop_assert!(!teams.contains(['*', '`', '[', ']', '<', '>']), "{:?}", teams);
                proptest::prop_assert!(!teams.lines().any(|l| l.trim_start().starts_with('#')));
                let discord = discord_text(&s);
                for (i, c) in discord.char_indices() {
                    if matches!(c, '*' | '_' | '~' | '`' | '[' | ']' | '<' | '|') {
                        let escapes = discord[..i].chars().rev().take_while(|&c| c == '\\').count();
                        proptest::prop_assert!(escapes % 2 == 1, "unescaped {:?} in {:?}", c, discord);
                    }
                }
                let html = html_escape(&s);
                proptest::prop_assert!(!html.contains(['<', '>', '"', '\'']));
            }
        }
    }

    #[test]
    fn trusted_text_keeps_markup_but_stays_valid_json() {
        assert_eq!(
            Flavor::Slack.escape_trusted("<!here> \"x\""),
            "<!here> \\\"x\\\""
        );
        assert_eq!(Flavor::Html.escape_trusted("<b>"), "&lt;b&gt;");
    }

    #[test]
    fn discord_breaks_everyone_and_markdown() {
        let s = discord_text("@everyone **bold** [x](http://y) `c`");
        assert!(s.starts_with("@\u{200B}everyone"));
        assert!(s.contains("\\*\\*bold\\*\\*"));
        assert!(s.contains("\\[x\\](http://y)"));
        assert_eq!(
            discord_text("a-b\n- c\n  # d > e"),
            "a-b\n\\- c\n  \\# d > e"
        );
        assert!(s.contains("\\`c\\`"));
    }

    #[test]
    fn break_broadcasts_leaves_emails_alone() {
        assert_eq!(break_broadcasts("ops@example.com"), "ops@example.com");
        assert_eq!(break_broadcasts("a@"), "a@");
        assert_eq!(break_broadcasts("@HERE!"), "@\u{200B}HERE!");
    }

    #[test]
    fn html_escape_script() {
        let s = Flavor::Html.escape("</div><script>alert('x')</script>");
        assert!(!s.contains('<') && !s.contains('\''));
    }

    #[test]
    fn subject_and_console() {
        assert_eq!(Flavor::Subject.escape("a\r\nb"), "a b");
        assert_eq!(
            Flavor::Console.escape("a\u{1b}[2Jb\r\nc"),
            "a\\u{1b}[2Jb ↵ c"
        );
        assert_eq!(Flavor::Text.escape("<x>"), "<x>");
    }
}
