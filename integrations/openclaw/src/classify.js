// Error categories for openclaw-trace's `category` field: one word a user can
// filter on, decided from whatever the gateway told us about the failure.

const BY_FAILURE_KIND = Object.freeze({
  timeout: "timeout",
  aborted: "aborted",
  connection_closed: "network",
  connection_reset: "network",
  terminated: "network",
});

// Checked in order against the provider's error type, code, message and the
// gateway's error category; the first match wins.
const BY_TEXT = [
  ["rate_limit", /rate[\s_-]?limit|too many requests|quota|throttl/i],
  ["auth", /\bauth|api[\s_-]?key|unauthori[sz]ed|forbidden|permission|credential/i],
  ["context_length", /context[\s_-]?(length|window)|maximum context|too many tokens|prompt is too long/i],
  ["timeout", /time[\s_-]?out|timed out|deadline/i],
  ["malformed_response", /malformed|invalid json|unexpected token|parse|decod|invalid response/i],
  ["network", /econnrefused|econnreset|enotfound|eai_again|socket|network|fetch failed|connection/i],
  ["server_error", /server[\s_-]?error|internal|overloaded|unavailable|bad gateway/i],
];

const STATUS_PATTERNS = [
  /^\s*([1-5]\d\d)\b/,
  /\bHTTP[\s/]?(?:\d(?:\.\d)?\s+)?([1-5]\d\d)\b/i,
  /\bstatus(?:\s*code)?[\s:=]+([1-5]\d\d)\b/i,
];

/** The HTTP status a provider error message starts with or names ("500 …", "HTTP 429"), or undefined. */
export function httpStatusOf(message) {
  if (typeof message !== "string") return undefined;
  for (const pattern of STATUS_PATTERNS) {
    const match = pattern.exec(message);
    if (match) return Number(match[1]);
  }
  return undefined;
}

function byStatus(status) {
  if (status === 429) return "rate_limit";
  if (status === 401 || status === 403) return "auth";
  if (status === 408 || status === 504) return "timeout";
  if (status === 413) return "context_length";
  if (status >= 500) return "server_error";
  if (status >= 400) return "bad_request";
  return undefined;
}

/**
 * The category of a failure: `failureKind` first (the gateway measured it),
 * then the HTTP status, then keywords in the provider's error type, code and
 * message. "unknown" when nothing matches.
 */
export function classifyError({ failureKind, httpStatus, errorType, errorCode, message, errorCategory } = {}) {
  const kind = BY_FAILURE_KIND[failureKind];
  if (kind) return kind;
  const status = byStatus(httpStatus);
  if (status) return status;
  for (const text of [errorType, errorCode, message, errorCategory]) {
    if (typeof text !== "string" || text.length === 0) continue;
    for (const [category, pattern] of BY_TEXT) {
      if (pattern.test(text)) return category;
    }
  }
  return "unknown";
}
