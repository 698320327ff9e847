//! Events per minute as a server-rendered SVG line chart (SPEC 15): one line per
//! error code, so the shape of a storm is seen, not read.

use super::html::{esc, time};
use crate::store::CodeSeries;
use std::fmt::Write;

const W: f64 = 960.0;
const H: f64 = 220.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 24.0;
const TOP: f64 = 10.0;
const COLOURS: [&str; 6] = [
    "#cf222e", "#0969da", "#1a7f37", "#9a6700", "#8250df", "#57606a",
];

/// The chart of `series` from minute `from` to minute `to` (unix ms / 60000), inclusive.
pub fn svg(series: &[CodeSeries], from: i64, to: i64) -> String {
    let span = (to - from).max(1) as f64;
    let max = series
        .iter()
        .flat_map(|s| s.minutes.iter().map(|(_, c)| *c))
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |m: i64| LEFT + (m - from) as f64 / span * (W - LEFT - 8.0);
    let y = |c: u64| TOP + (1.0 - c as f64 / max as f64) * (H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" aria-label=\"events per minute\">\
         <rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" fill=\"#fff\" stroke=\"#d0d7de\"/>",
        W - LEFT - 8.0,
        H - TOP - BOTTOM
    );
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{max}/min</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">0</text>",
        LEFT - 4.0,
        TOP + 10.0,
        LEFT - 4.0,
        H - BOTTOM
    );
    for i in 0..=4 {
        let m = from + (to - from) * i / 4;
        let label = time(Some(m * 60_000));
        let short = label.get(11..16).unwrap_or(&label);
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{} UTC</text>",
            x(m).clamp(LEFT + 20.0, W - 40.0),
            H - 6.0,
            esc(short)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points = String::new();
        let mut counts = s.minutes.iter().peekable();
        // Every minute of the span, zero where the store has no row: a storm shows as
        // a spike, a quiet hour as a flat line.
        for m in from..=to {
            while counts.peek().is_some_and(|(pm, _)| *pm < m) {
                counts.next();
            }
            let c = match counts.peek() {
                Some((pm, c)) if *pm == m => *c,
                _ => 0,
            };
            let _ = write!(points, "{:.1},{:.1} ", x(m), y(c));
        }
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"><title>{} ({} events)</title></polyline>",
            points.trim_end(),
            code_label(s.error_code),
            s.total
        );
    }
    out.push_str("</svg>");
    if series.is_empty() {
        out.push_str("<p class=\"muted\">No events in this period.</p>");
    } else {
        out.push_str("<p>");
        for (i, s) in series.iter().enumerate() {
            let _ = write!(
                out,
                "<span style=\"color:{}\">■</span> <a href=\"/ui/events?code={}\">{}</a> ({}) &nbsp; ",
                COLOURS[i % COLOURS.len()],
                s.error_code,
                code_label(s.error_code),
                s.total
            );
        }
        out.push_str("</p>");
    }
    out
}

fn code_label(code: u32) -> String {
    if code == 0 {
        "no code".into()
    } else {
        code.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_line_per_code_with_every_minute() {
        let s = vec![CodeSeries {
            error_code: 11200,
            total: 7,
            minutes: vec![(10, 5), (12, 2)],
        }];
        let out = svg(&s, 10, 13);
        assert_eq!(out.matches("<polyline").count(), 1);
        let points = out
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 4);
        assert!(out.contains("11200"));
    }
}
