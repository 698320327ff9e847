#!/usr/bin/env node
// Builds the preview pages that scripts/render-previews.sh screenshots in
// headless Chromium, at desktop width and at 375 px (a phone):
//   slack-<w>.html  the Slack messages: a Block Kit approximation (header,
//                   mrkdwn sections and fields, context, buttons, the
//                   attachment's level-coloured bar) rendered the way Slack
//                   formats mrkdwn, so untrusted text that would format shows it
//   teams-<w>.html  the Teams cards, rendered by Microsoft's Adaptive Cards SDK
//                   (npm adaptivecards) with a Teams-like host config and
//                   Teams' Markdown subset (bold, italic, links, lists)
//   email-<w>.html  each email's HTML part in a mail-client frame
//   slack-living-desktop.html
//                   a living alert (Slack app mode): the alert as a digest
//                   edited it, the digest in its thread, the alert resolved
// Each other page shows the alert, the digest and the hostile event, in that order.
// Usage: node build-pages.js INPUT_DIR OUTPUT_DIR ADAPTIVECARDS_JS
// INPUT_DIR holds {alert,digest,hostile}.{slack,teams,email}.json as written by
// the `previews_for_the_docs` test and living-{parent,reply,resolved}.slack.json
// as written by `living_alert_previews_for_the_docs` (what the channels actually
// received: the `chat.postMessage` reply and the two `chat.update` bodies).
"use strict";
const fs = require("fs");
const path = require("path");

const [input, output, acJs] = process.argv.slice(2);
if (!input || !output || !acJs) {
  console.error("usage: node build-pages.js INPUT_DIR OUTPUT_DIR ADAPTIVECARDS_JS");
  process.exit(2);
}
const CASES = [
  ["alert", "A single alert"],
  ["digest", "The digest at the end of the window"],
  ["hostile", "A hostile event (text that tries to format, link and ping)"],
];
const WIDTHS = { desktop: 760, phone: 375 };
const read = (f) => JSON.parse(fs.readFileSync(path.join(input, f), "utf8"));
const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
// Embedded in <script>: JSON with "<" escaped cannot close the tag.
const scriptJson = (v) => JSON.stringify(v).replace(/</g, "\\u003c");
const FONT = "'Lato', 'Segoe UI', 'Noto Sans', 'DejaVu Sans', system-ui, sans-serif, 'Noto Color Emoji'";
const MEASURE = `
function measure() {
  const h = Math.ceil(document.getElementById("frame").getBoundingClientRect().bottom) + 16;
  document.documentElement.setAttribute("data-height", String(h));
}`;
const caption = (text) => `<div class="caption">${esc(text)}</div>`;

// ---------------------------------------------------------------- Slack
// Slack's mrkdwn: <…> tokens first (links, mentions, dates), then code, bold,
// italic, strike, bare links; `&lt;` etc. are already entities in the payload.
function mrkdwn(text, verbatim) {
  const parts = [];
  let rest = text;
  const token = /<([^<>]*)>/;
  let m;
  while ((m = token.exec(rest))) {
    parts.push(inline(rest.slice(0, m.index), verbatim));
    const t = m[1];
    const [target, label] = t.split("|", 2);
    if (target.startsWith("!date^")) parts.push(esc(label || ""));
    else if (target.startsWith("!")) parts.push(`<span class="mention">@${esc(target.slice(1))}</span>`);
    else if (target.startsWith("@")) parts.push(`<span class="mention">@user</span>`);
    else parts.push(`<a href="#">${esc(label || target)}</a>`);
    rest = rest.slice(m.index + m[0].length);
  }
  parts.push(inline(rest, verbatim));
  return parts.join("").replace(/\n/g, "<br>");
}
function inline(s, verbatim) {
  // s holds Slack entities (&lt; &gt; &amp;) and no raw < >; quotes are escaped here.
  s = s.replace(/"/g, "&quot;");
  s = s.replace(/```([\s\S]+?)```/g, (_, c) => `<pre>${c}</pre>`);
  s = s.replace(/`([^`\n]+)`/g, (_, c) => `<code>${c}</code>`);
  const edge = "(^|[\\s(\\[{>])";
  const end = "(?=$|[\\s.,;:!?)\\]}<])";
  s = s.replace(new RegExp(edge + "\\*([^*\\n]+?)\\*" + end, "g"), "$1<b>$2</b>");
  s = s.replace(new RegExp(edge + "_([^_\\n]+?)_" + end, "g"), "$1<i>$2</i>");
  s = s.replace(new RegExp(edge + "~([^~\\n]+?)~" + end, "g"), "$1<s>$2</s>");
  // Slack links bare URLs unless the text object is "verbatim".
  if (!verbatim) s = s.replace(/(^|[\s(])(https?:\/\/[^\s<&]+)/g, '$1<a href="#">$2</a>');
  return s;
}
function slackBlocks(blocks) {
  return (blocks || [])
    .map((b) => {
      switch (b.type) {
        case "header":
          return `<div class="s-header">${esc(b.text.text)}</div>`;
        case "section": {
          const text = b.text ? `<div class="s-text">${b.text.type === "mrkdwn" ? mrkdwn(b.text.text, b.text.verbatim) : esc(b.text.text)}</div>` : "";
          const fields = b.fields
            ? `<div class="s-fields">${b.fields.map((f) => `<div>${f.type === "mrkdwn" ? mrkdwn(f.text, f.verbatim) : esc(f.text)}</div>`).join("")}</div>`
            : "";
          return `<div class="s-section">${text}${fields}</div>`;
        }
        case "context":
          return `<div class="s-context">${b.elements.map((e) => (e.type === "mrkdwn" ? mrkdwn(e.text, e.verbatim) : esc(e.text || ""))).join(" ")}</div>`;
        case "actions":
          return `<div class="s-actions">${b.elements.map((e) => `<span class="s-button">${esc(e.text.text)}</span>`).join("")}</div>`;
        case "divider":
          return `<hr>`;
        default:
          return "";
      }
    })
    .join("");
}
// opts: time (the message's), edited (Slack's "(edited)" mark), thread (the
// replies line under a message that has a thread: {replies, last}).
function slackMessage(v, opts = {}) {
  const top = v.blocks ? slackBlocks(v.blocks) : `<div class="s-text">${mrkdwn(v.text)}</div>`;
  const atts = (v.attachments || [])
    .map((a) => `<div class="s-att" style="border-left-color:${esc(a.color || "#ddd")}">${slackBlocks(a.blocks)}</div>`)
    .join("");
  const edited = opts.edited ? `<div class="s-edited">(edited)</div>` : "";
  const thread = opts.thread
    ? `<div class="s-thread"><span class="s-mini">tw</span><a href="#">${opts.thread.replies} ${opts.thread.replies === 1 ? "reply" : "replies"}</a><span>Last reply today at ${esc(opts.thread.last)}</span></div>`
    : "";
  return `<div class="s-msg"><div class="s-avatar">tw</div><div class="s-body">
    <div class="s-meta"><b>twilert</b><span class="s-app">APP</span>${esc(opts.time || "06:47")}</div>${top}${atts}${edited}${thread}</div></div>`;
}
function slackPage(width) {
  const body = CASES.map(([name, what]) => caption(what) + slackMessage(read(`${name}.slack.json`))).join("\n");
  return slackFrame(width, "Slack preview", body);
}
// A living alert: the channel's message after a digest edited it (the thread
// line under it), the thread with that digest, and the message resolved.
function slackLivingPage(width) {
  const [parent, reply, resolved] = ["parent", "reply", "resolved"].map((n) => read(`living-${n}.slack.json`));
  const thread = { replies: 1, last: "06:48" };
  const header = (parent.blocks || []).find((b) => b.type === "header");
  const body = [
    caption("In the channel: the alert, edited by each digest (running total, last seen, resources)"),
    slackMessage(parent, { edited: true, thread }),
    caption("In its thread: the digest of the window"),
    `<div class="s-pane"><div class="s-pane-head"><b>Thread</b><span># alerts</span></div>
      <div class="s-pane-parent"><b>twilert</b> ${esc(header ? header.text.text : parent.text)}</div>
      <div class="s-divider"><span>1 reply</span></div>
      ${slackMessage(reply, { time: "06:48" })}</div>`,
    caption("Resolved: the same message, edited once more (its bar turns green)"),
    slackMessage(resolved, { edited: true, thread }),
  ].join("\n");
  return slackFrame(width, "Slack living alert preview", body);
}
function slackFrame(width, title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title><style>
  html, body { margin: 0; background: #fff; font-family: ${FONT}; color: #1d1c1d; font-size: 15px; line-height: 1.46; }
  #frame { width: ${width}px; padding: 8px 0; box-sizing: border-box; }
  .caption { font-size: 12px; color: #616061; margin: 10px 16px 0; text-transform: uppercase; letter-spacing: .04em; }
  .s-msg { display: flex; gap: 8px; padding: 8px 16px; }
  .s-avatar { flex: none; width: 36px; height: 36px; border-radius: 6px; background: #611f69; color: #fff; font-weight: 700;
              display: flex; align-items: center; justify-content: center; font-size: 14px; }
  .s-body { min-width: 0; flex: 1; overflow-wrap: anywhere; }
  .s-meta { font-size: 15px; } .s-meta b { font-weight: 900; margin-right: 4px; }
  .s-meta { color: #616061; font-size: 12px; } .s-meta b { color: #1d1c1d; font-size: 15px; }
  .s-app { background: #e8e8e8; color: #616061; font-size: 10px; font-weight: 700; padding: 1px 3px; border-radius: 2px; margin-right: 6px; }
  .s-header { font-size: 18px; font-weight: 900; margin: 4px 0; }
  .s-att { border-left: 4px solid #ddd; border-radius: 4px 0 0 4px; padding: 2px 0 2px 12px; margin: 4px 0; }
  .s-section { margin: 4px 0; } .s-text { white-space: normal; }
  .s-fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 4px; }
  .s-context { font-size: 12px; color: #616061; margin: 6px 0; }
  .s-actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 4px; }
  .s-button { border: 1px solid #c4c4c4; border-radius: 4px; padding: 3px 12px; font-size: 13px; font-weight: 700; }
  a { color: #1264a3; text-decoration: none; } .mention { background: #fff0c2; color: #1264a3; border-radius: 3px; padding: 0 2px; }
  code { font-family: Monaco, Menlo, Consolas, 'DejaVu Sans Mono', monospace; font-size: 12px; color: #e01e5a; background: #f6f6f6;
         border: 1px solid #e8e8e8; border-radius: 3px; padding: 0 3px; }
  pre { font-family: Monaco, Menlo, Consolas, 'DejaVu Sans Mono', monospace; font-size: 12px; background: #f8f8f8; border: 1px solid #e8e8e8;
        border-radius: 4px; padding: 8px; white-space: pre-wrap; margin: 4px 0; }
  .s-edited { font-size: 12px; color: #616061; margin: 0 0 2px; }
  .s-thread { display: flex; align-items: center; gap: 8px; font-size: 13px; color: #616061; margin: 4px 0 2px;
              padding: 4px 6px; border: 1px solid #e8e8e8; border-radius: 6px; width: max-content; }
  .s-thread a { font-weight: 700; }
  .s-mini { width: 20px; height: 20px; border-radius: 4px; background: #611f69; color: #fff; font-size: 9px; font-weight: 700;
            display: inline-flex; align-items: center; justify-content: center; }
  .s-pane { margin: 4px 16px 0; border: 1px solid #dddddd; border-radius: 8px; overflow: hidden; }
  .s-pane .s-msg { padding: 8px 12px 10px; }
  .s-pane-head { display: flex; align-items: baseline; gap: 8px; padding: 10px 16px; border-bottom: 1px solid #e8e8e8; font-size: 17px; }
  .s-pane-head b { font-weight: 900; } .s-pane-head span { font-size: 13px; color: #616061; }
  .s-pane-parent { padding: 10px 16px 4px; font-size: 14px; color: #1d1c1d; } .s-pane-parent b { font-weight: 900; margin-right: 6px; }
  .s-divider { display: flex; align-items: center; gap: 8px; margin: 6px 16px 0; font-size: 13px; color: #616061; }
  .s-divider::after { content: ""; flex: 1; border-top: 1px solid #e8e8e8; }
  </style></head><body><div id="frame">
  ${body}
  </div><script>${MEASURE}\nmeasure();</script></body></html>`;
}

// ---------------------------------------------------------------- Teams
const colors = {
  default: { default: "#242424", subtle: "#616161" },
  accent: { default: "#5B5FC7", subtle: "#5B5FC7" },
  attention: { default: "#C4314B", subtle: "#C4314B" },
  good: { default: "#237B4B", subtle: "#237B4B" },
  warning: { default: "#835C00", subtle: "#835C00" },
  dark: { default: "#252424", subtle: "#616161" },
  light: { default: "#FFFFFF", subtle: "#FFFFFF" },
};
const hostConfig = {
  fontFamily: FONT,
  supportsInteractivity: true,
  spacing: { small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#E0E0E0" },
  fontTypes: {
    default: { fontFamily: FONT, fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 }, fontWeights: { lighter: 200, default: 400, bolder: 600 } },
    monospace: { fontFamily: "'DejaVu Sans Mono', Consolas, monospace", fontSizes: { small: 12, default: 13, medium: 14, large: 18, extraLarge: 24 }, fontWeights: { lighter: 200, default: 400, bolder: 600 } },
  },
  containerStyles: { default: { backgroundColor: "#FFFFFF", foregroundColors: colors }, emphasis: { backgroundColor: "#F5F5F5", foregroundColors: colors } },
  actions: { maxActions: 6, spacing: "default", buttonSpacing: 8, actionsOrientation: "horizontal", actionAlignment: "left" },
  factSet: { title: { weight: "bolder", size: "default", color: "default", wrap: true, maxWidth: 150 }, value: { weight: "default", size: "default", color: "default", wrap: true }, spacing: 12 },
};
function teamsPage(width) {
  const cards = CASES.map(([name]) => read(`${name}.teams.json`).attachments[0].content);
  const bubble = width - 24 * 2 - 44;
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Teams preview</title><style>
  html, body { margin: 0; background: #F5F5F5; font-family: ${FONT}; color: #242424; }
  #frame { width: ${width}px; padding: 8px ${width < 500 ? 8 : 24}px 16px; box-sizing: border-box; }
  .caption { font-size: 12px; color: #616161; margin: 12px 0 6px; text-transform: uppercase; letter-spacing: .04em; }
  .msg { display: flex; gap: 8px; }
  .avatar { width: 32px; height: 32px; border-radius: 50%; background: #5B5FC7; color: #fff; font-weight: 600; display: flex;
            align-items: center; justify-content: center; font-size: 14px; flex: none; }
  .meta { font-size: 12px; color: #616161; margin: 0 0 4px; } .meta b { color: #242424; font-weight: 600; margin-right: 8px; }
  .bubble { background: #FFFFFF; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.14); width: ${width < 500 ? width - 8 * 2 - 40 : bubble}px; overflow: hidden; }
  .ac-pushButton { font-family: ${FONT}; font-size: 14px; font-weight: 600; color: #242424; background: #fff;
                   border: 1px solid #D1D1D1; border-radius: 4px; padding: 5px 12px; }
  .ac-textBlock a { color: #5B5FC7; }
  </style><script src="file://${path.resolve(acJs)}"></script></head><body><div id="frame">
  ${CASES.map(([, what], i) => `${caption(what)}<div class="msg"><div class="avatar">W</div><div><p class="meta"><b>Workflows</b>06:47</p><div class="bubble" id="card${i}"></div></div></div>`).join("\n")}
  </div><script>${MEASURE}
  // Teams' Markdown subset in TextBlocks: **bold**, _italic_, [text](url), - lists, line breaks.
  function markdown(text) {
    const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
    return esc(text)
      .replace(/\\*\\*([^*]+)\\*\\*/g, "<strong>$1</strong>")
      .replace(/(^|\\s)_([^_]+)_(?=$|\\s|[.,])/g, "$1<em>$2</em>")
      .replace(/\\[([^\\]]+)\\]\\((https?:[^)\\s]+)\\)/g, '<a href="$2">$1</a>')
      .replace(/\\n/g, "<br>");
  }
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => { result.outputHtml = markdown(text); result.didProcess = true; };
  const cards = ${scriptJson(cards)};
  cards.forEach((json, i) => {
    const card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = new AdaptiveCards.HostConfig(${scriptJson(hostConfig)});
    card.parse(json);
    document.getElementById("card" + i).appendChild(card.render());
  });
  measure();
  </script></body></html>`;
}

// ---------------------------------------------------------------- email
function emailPage(width) {
  const mails = CASES.map(([name, what]) => {
    const email = read(`${name}.email.json`);
    const header = (n) => (email.headers.find((h) => h[0].toLowerCase() === n.toLowerCase()) || [, ""])[1];
    const html = email.parts.find((p) => p.content_type === "text/html");
    if (!html) throw new Error(`${name}.email.json has no text/html part`);
    return `${caption(what)}<div class="mail"><div class="head">
      <p class="subject">${esc(header("Subject"))}</p>
      <div class="row"><b>From</b>${esc(header("From"))}</div><div class="row"><b>To</b>${esc(header("To"))}</div></div>
      <iframe class="body" sandbox="allow-same-origin" srcdoc="${esc(html.content)}"></iframe></div>`;
  });
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Email preview</title><style>
  html, body { margin: 0; background: #EDEBE9; font-family: ${FONT}; color: #242424; }
  #frame { width: ${width}px; padding: 4px ${width < 500 ? 0 : 20}px 16px; box-sizing: border-box; }
  .caption { font-size: 12px; color: #616161; margin: 12px ${width < 500 ? 12 : 0}px 6px; text-transform: uppercase; letter-spacing: .04em; }
  .mail { background: #fff; border-radius: ${width < 500 ? 0 : 6}px; box-shadow: 0 1px 2px rgba(0,0,0,.14); overflow: hidden; }
  .head { padding: 12px 16px 10px; border-bottom: 1px solid #EDEBE9; }
  .subject { font-size: 16px; font-weight: 600; margin: 0 0 6px; overflow-wrap: anywhere; }
  .row { font-size: 13px; color: #616161; line-height: 1.5; overflow-wrap: anywhere; }
  .row b { color: #242424; font-weight: 600; display: inline-block; width: 44px; }
  iframe { border: 0; width: 100%; display: block; }
  </style></head><body><div id="frame">${mails.join("\n")}</div><script>${MEASURE}
  const frames = [...document.querySelectorAll("iframe")];
  let loaded = 0;
  frames.forEach((f) => f.addEventListener("load", () => {
    f.style.height = f.contentDocument.documentElement.scrollHeight + "px";
    if (++loaded === frames.length) measure();
  }));
  </script></body></html>`;
}

fs.mkdirSync(output, { recursive: true });
for (const [label, width] of Object.entries(WIDTHS)) {
  fs.writeFileSync(path.join(output, `slack-${label}.html`), slackPage(width));
  fs.writeFileSync(path.join(output, `teams-${label}.html`), teamsPage(width));
  fs.writeFileSync(path.join(output, `email-${label}.html`), emailPage(label === "desktop" ? 820 : width));
}
fs.writeFileSync(path.join(output, "slack-living-desktop.html"), slackLivingPage(WIDTHS.desktop));
console.log(`build-pages: wrote ${output}/{slack,teams,email}-{desktop,phone}.html and slack-living-desktop.html`);
