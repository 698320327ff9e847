#!/usr/bin/env node
// Builds the preview pages that scripts/render-previews.sh screenshots in
// headless Chromium:
//   teams.html  the Teams card, rendered by Microsoft's Adaptive Cards SDK (npm
//               adaptivecards) with a Teams-like host config, in a chat frame
//   email.html  the email's HTML part in a mail-client frame (From/To/Subject)
// Usage: node build-pages.js INPUT_DIR OUTPUT_DIR ADAPTIVECARDS_JS
// INPUT_DIR holds teams.json and email.json as written by the
// `previews_for_the_docs` test (what the channels actually received).
"use strict";
const fs = require("fs");
const path = require("path");

const [input, output, acJs] = process.argv.slice(2);
if (!input || !output || !acJs) {
  console.error("usage: node build-pages.js INPUT_DIR OUTPUT_DIR ADAPTIVECARDS_JS");
  process.exit(2);
}
const read = (f) => JSON.parse(fs.readFileSync(path.join(input, f), "utf8"));
const esc = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
// Embedded in <script>: JSON with "<" escaped cannot close the tag.
const scriptJson = (v) => JSON.stringify(v).replace(/</g, "\\u003c");

const FONT = "'Segoe UI', 'Noto Sans', 'DejaVu Sans', system-ui, sans-serif, 'Noto Color Emoji'";

// Sizes the page to its content: the script reads data-height in a first pass.
const MEASURE = `
function measure() {
  const h = Math.ceil(document.getElementById("frame").getBoundingClientRect().bottom) + 24;
  document.documentElement.setAttribute("data-height", String(h));
}`;

// ---------------------------------------------------------------- Teams
const teams = read("teams.json");
const card = teams.attachments[0].content;
const hostConfig = {
  fontFamily: FONT,
  supportsInteractivity: true,
  spacing: { small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#E0E0E0" },
  fontTypes: {
    default: {
      fontFamily: FONT,
      fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
      fontWeights: { lighter: 200, default: 400, bolder: 600 },
    },
    monospace: {
      fontFamily: "'DejaVu Sans Mono', Consolas, monospace",
      fontSizes: { small: 12, default: 13, medium: 14, large: 18, extraLarge: 24 },
      fontWeights: { lighter: 200, default: 400, bolder: 600 },
    },
  },
  containerStyles: {
    default: {
      backgroundColor: "#FFFFFF",
      foregroundColors: {
        default: { default: "#242424", subtle: "#616161" },
        accent: { default: "#5B5FC7", subtle: "#5B5FC7" },
        attention: { default: "#C4314B", subtle: "#C4314B" },
        good: { default: "#237B4B", subtle: "#237B4B" },
        warning: { default: "#835C00", subtle: "#835C00" },
        dark: { default: "#252424", subtle: "#616161" },
        light: { default: "#FFFFFF", subtle: "#FFFFFF" },
      },
    },
    emphasis: {
      backgroundColor: "#F5F5F5",
      foregroundColors: {
        default: { default: "#242424", subtle: "#616161" },
        accent: { default: "#5B5FC7", subtle: "#5B5FC7" },
        attention: { default: "#C4314B", subtle: "#C4314B" },
        good: { default: "#237B4B", subtle: "#237B4B" },
        warning: { default: "#835C00", subtle: "#835C00" },
        dark: { default: "#252424", subtle: "#616161" },
        light: { default: "#FFFFFF", subtle: "#FFFFFF" },
      },
    },
  },
  actions: { maxActions: 6, spacing: "default", buttonSpacing: 8, actionsOrientation: "horizontal", actionAlignment: "left" },
  factSet: {
    title: { weight: "bolder", size: "default", color: "default", wrap: true, maxWidth: 150 },
    value: { weight: "default", size: "default", color: "default", wrap: true },
    spacing: 12,
  },
};

const teamsPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Teams preview</title>
<style>
  html, body { margin: 0; background: #F5F5F5; font-family: ${FONT}; color: #242424; }
  #frame { width: 760px; padding: 20px 24px; box-sizing: border-box; }
  .msg { display: flex; gap: 12px; }
  .avatar { width: 32px; height: 32px; border-radius: 50%; background: #5B5FC7; color: #fff;
            font-weight: 600; display: flex; align-items: center; justify-content: center; font-size: 14px; flex: none; }
  .meta { font-size: 12px; color: #616161; margin: 0 0 6px; }
  .meta b { color: #242424; font-weight: 600; margin-right: 8px; }
  .bubble { background: #FFFFFF; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.14); width: 660px; overflow: hidden; }
  .ac-pushButton { font-family: ${FONT}; font-size: 14px; font-weight: 600; color: #242424; background: #fff;
                   border: 1px solid #D1D1D1; border-radius: 4px; padding: 5px 12px; cursor: pointer; }
  .ac-textBlock a { color: #5B5FC7; }
</style>
<script src="file://${path.resolve(acJs)}"></script>
</head><body>
<div id="frame">
  <div class="msg">
    <div class="avatar">W</div>
    <div>
      <p class="meta"><b>Workflows</b> 14:32</p>
      <div class="bubble" id="card"></div>
    </div>
  </div>
</div>
<script>
${MEASURE}
// A small Markdown subset, as Teams renders in TextBlocks: **bold**, [text](url), line breaks.
function markdown(text) {
  const esc = (s) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  return esc(text)
    .replace(/\\*\\*([^*]+)\\*\\*/g, "<strong>$1</strong>")
    .replace(/\\[([^\\]]+)\\]\\((https?:[^)\\s]+)\\)/g, '<a href="$2">$1</a>')
    .replace(/\\n/g, "<br>");
}
AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {
  result.outputHtml = markdown(text);
  result.didProcess = true;
};
const card = new AdaptiveCards.AdaptiveCard();
card.hostConfig = new AdaptiveCards.HostConfig(${scriptJson(hostConfig)});
card.parse(${scriptJson(card)});
document.getElementById("card").appendChild(card.render());
measure();
</script>
</body></html>
`;

// ---------------------------------------------------------------- email
const email = read("email.json");
const header = (name) => {
  const h = email.headers.find((h) => h[0].toLowerCase() === name.toLowerCase());
  return h ? h[1] : "";
};
const html = email.parts.find((p) => p.content_type === "text/html");
if (!html) {
  console.error("email.json has no text/html part");
  process.exit(1);
}
const emailPage = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Email preview</title>
<style>
  html, body { margin: 0; background: #EDEBE9; font-family: ${FONT}; color: #242424; }
  #frame { width: 820px; padding: 20px; box-sizing: border-box; }
  .mail { background: #fff; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.14); overflow: hidden; }
  .head { padding: 16px 20px 12px; border-bottom: 1px solid #EDEBE9; }
  .subject { font-size: 18px; font-weight: 600; margin: 0 0 10px; }
  .row { font-size: 13px; color: #616161; line-height: 1.6; }
  .row b { color: #242424; font-weight: 600; display: inline-block; width: 52px; }
  iframe { border: 0; width: 100%; display: block; }
</style></head><body>
<div id="frame"><div class="mail">
  <div class="head">
    <p class="subject">${esc(header("Subject"))}</p>
    <div class="row"><b>From</b>${esc(header("From"))}</div>
    <div class="row"><b>To</b>${esc(header("To"))}</div>
    ${header("Cc") ? `<div class="row"><b>Cc</b>${esc(header("Cc"))}</div>` : ""}
  </div>
  <iframe id="body" sandbox="allow-same-origin" srcdoc="${esc(html.content)}"></iframe>
</div></div>
<script>
${MEASURE}
const body = document.getElementById("body");
body.addEventListener("load", () => {
  body.style.height = body.contentDocument.documentElement.scrollHeight + "px";
  measure();
});
</script>
</body></html>
`;

fs.mkdirSync(output, { recursive: true });
fs.writeFileSync(path.join(output, "teams.html"), teamsPage);
fs.writeFileSync(path.join(output, "email.html"), emailPage);
console.log(`build-pages: wrote ${output}/teams.html, ${output}/email.html`);
