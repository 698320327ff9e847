#!/usr/bin/env node
// Validates Teams Workflows payloads with Microsoft's Adaptive Cards SDK (npm
// adaptivecards), targeting card version 1.4.
//
// Usage: node teams_validate.js DIR   -- checks every *.json in DIR.
// Each payload must be {"type":"message","attachments":[{contentType: adaptive
// card, content: card}]}; every card must parse with no parse events and pass
// validateProperties(). Exit status 0 when every file passes.
"use strict";
const fs = require("fs");
const path = require("path");

let AC;
try {
  AC = require(path.join(__dirname, "node_modules", "adaptivecards", "dist", "adaptivecards.js"));
} catch (e) {
  console.error("adaptivecards is not installed; run scripts/test-deps.sh (" + e.message + ")");
  process.exit(2);
}

const CARD_TYPE = "application/vnd.microsoft.card.adaptive";
const MAX_BYTES = 28 * 1024;

function events(ctx) {
  const out = [];
  for (let i = 0; i < ctx.eventCount; i++) out.push(ctx.getEventAt(i));
  return out;
}

function check(file) {
  const problems = [];
  const text = fs.readFileSync(file, "utf8");
  const payload = JSON.parse(text);
  if (Buffer.byteLength(text, "utf8") > MAX_BYTES) {
    problems.push(`payload is ${Buffer.byteLength(text, "utf8")} bytes (max ${MAX_BYTES})`);
  }
  if (payload.type !== "message") problems.push('type is not "message"');
  const atts = Array.isArray(payload.attachments) ? payload.attachments : [];
  if (atts.length === 0) problems.push("no attachments");
  atts.forEach((att, i) => {
    if (att.contentType !== CARD_TYPE) problems.push(`attachments[${i}].contentType is ${att.contentType}`);
    const json = att.content;
    if (!json || json.type !== "AdaptiveCard") {
      problems.push(`attachments[${i}].content is not an AdaptiveCard`);
      return;
    }
    if (json.version !== "1.4") problems.push(`attachments[${i}]: version ${json.version}, expected 1.4`);
    const card = new AC.AdaptiveCard();
    const ctx = new AC.SerializationContext(AC.Versions.v1_4);
    card.parse(json, ctx);
    for (const ev of events(ctx)) {
      problems.push(`attachments[${i}] parse: ${ev.message}`);
    }
    const results = card.validateProperties();
    for (const ev of results.validationEvents || []) {
      problems.push(`attachments[${i}] validate: ${ev.message}`);
    }
    if (card.getItemCount() === 0) problems.push(`attachments[${i}]: card has an empty body`);
  });
  return problems;
}

function main() {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: node teams_validate.js DIR");
    return 2;
  }
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  if (files.length === 0) {
    console.error(`no *.json payloads in ${dir}`);
    return 1;
  }
  let failed = 0;
  for (const f of files) {
    let problems;
    try {
      problems = check(path.join(dir, f));
    } catch (e) {
      problems = [`${e.name}: ${e.message}`];
    }
    for (const p of problems) console.log(`${f}: ${p}`);
    if (problems.length) failed++;
  }
  console.log(`teams: ${files.length - failed}/${files.length} payloads valid`);
  return failed ? 1 : 0;
}

process.exit(main());
