// What the plugin may show of its endpoint in a log line, an error or its
// counters: `scheme://host:port`, nothing more. A user and password, a path
// (a webhook-style path is often a secret) and a query are left out. Imports
// nothing of ours, so config.js and sender.js can both use it.

const DEFAULT_PORTS = Object.freeze({ "http:": "80", "https:": "443" });
// A URL quoted in free text ends at whitespace, a quote or an angle bracket,
// and leaves the sentence's punctuation after it alone.
const URL_IN_TEXT = /\b[a-z][a-z\d+.-]*:\/\/[^\s"'<>]*[^\s"'<>.,;:!?)]/gi;

/** `endpoint` as `scheme://host:port` (the port spelt out even when default), or "<invalid URL>". Never throws. */
export function redactedEndpoint(endpoint) {
  let url;
  try {
    url = new URL(endpoint);
  } catch {
    return "<invalid URL>";
  }
  const port = url.port || DEFAULT_PORTS[url.protocol];
  return `${url.protocol}//${url.hostname}${port ? `:${port}` : ""}`;
}

/**
 * `text` with `endpoint` (as configured) and every other URL in it cut to
 * `scheme://host:port`. Error messages quote URLs: Node's fetch refuses a URL
 * holding a user and password with an error that quotes it whole.
 */
export function redactUrls(text, endpoint) {
  // The configured string first: the URL pattern stops at a space a password may hold.
  const known = endpoint ? text.replaceAll(endpoint, redactedEndpoint(endpoint)) : text;
  return known.replace(URL_IN_TEXT, (url) => redactedEndpoint(url));
}
