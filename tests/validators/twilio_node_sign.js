#!/usr/bin/env node
// Signs requests with Twilio's own Node SDK (npm `twilio`, lib/webhooks), which
// implements shared-key signing: the algorithm named in
// X-Twilio-Webhooks-Signature-Settings (HMAC_SHA1 or HMAC_SHA256) keyed by the
// SharedKey secret, over the URL + sorted params, or the URL with bodySHA256.
//
// stdin: JSON list of {"secret", "url", "settings", "params": [[k, v], ...]} (form)
// or {"secret", "url", "settings", "body": "..."} (JSON: bodySHA256 is added).
// stdout: JSON list of {"url", "signature"}; each is also checked with the SDK's
// validateRequest / validateRequestWithBody so a wrong use of the SDK fails here.
const twilio = require("twilio");

let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((c) => {
    const algorithm = twilio.getSignatureAlgorithm(c.settings || "");
    if (c.body !== undefined) {
      const sep = c.url.includes("?") ? "&" : "?";
      const url = c.url + sep + "bodySHA256=" + twilio.getExpectedBodyHash(c.body);
      const signature = twilio.getExpectedTwilioSignature(c.secret, url, {}, algorithm);
      if (!twilio.validateRequestWithBody(c.secret, signature, url, c.body, algorithm)) {
        throw new Error("the SDK rejects its own JSON signature");
      }
      return { url, signature };
    }
    const params = {};
    for (const [k, v] of c.params) params[k] = v;
    const signature = twilio.getExpectedTwilioSignature(c.secret, c.url, params, algorithm);
    if (!twilio.validateRequest(c.secret, signature, c.url, params, algorithm)) {
      throw new Error("the SDK rejects its own form signature");
    }
    return { url: c.url, signature };
  });
  process.stdout.write(JSON.stringify(out));
});
