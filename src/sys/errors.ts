// Errors as one line for a message, and the exhaustiveness check at the end
// of a switch over outcomes. The one describeError: the runner, the cache
// stores and the GitHub client all say a caught error the same way.

/** One line for any thrown value: name or code and message, no stack. */
export function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  // Ours (the cache's StoreError and ArchiveError) already say what happened in words.
  if (e.name === "StoreError" || e.name === "ArchiveError") return e.message;
  const any = e as Error & { code?: unknown; $metadata?: { httpStatusCode?: number }; Code?: string };
  const status = any.$metadata?.httpStatusCode;
  const code = typeof any.code === "string" ? any.code : (any.Code ?? (e.name !== "Error" ? e.name : ""));
  // The AWS SDK's handler names itself and its settings; the reader needs neither.
  let msg = (e.message || "")
    .replace("@smithy/node-http-handler - ", "")
    .replace(/ \((configured by client requestHandler|service default socket timeout)\)\.?$/, "");
  msg = fetchMessage(any, msg);
  // The SDK answers "UnknownError" with an empty message when a body is not XML (a proxy's 5xx page).
  if (!msg || msg === "UnknownError") msg = status ? `HTTP ${status}` : e.name;
  const parts = [
    code && !msg.includes(code) ? `${code}:` : "",
    msg,
    status && !msg.includes(String(status)) ? `(HTTP ${status})` : "",
  ];
  return parts.filter(Boolean).join(" ").replace(/\s+/g, " ").trim();
}

/**
 * Bun's fetch (S3 downloads, GitHub) fails a connection with its own words:
 * "ECONNREFUSED: Unable to connect. Is the computer able to access the url?",
 * the URL in `path`. Said as Node's sockets say it, the address included:
 * "connect ECONNREFUSED 127.0.0.1:9", the same as for an upload to the same store.
 * Its advice to pass fetch an option (a connection cut) is for programmers: dropped.
 */
function fetchMessage(e: { code?: unknown; path?: unknown }, msg: string): string {
  const { code, path } = e;
  msg = msg.replace(/\. For more information, pass `verbose: true` in the second argument to fetch\(\)$/, "");
  if (typeof code !== "string" || typeof path !== "string" || !msg.startsWith(`${code}: Unable to connect`)) return msg;
  try {
    const url = new URL(path);
    return `connect ${code} ${url.hostname}:${url.port || (url.protocol === "https:" ? 443 : 80)}`;
  } catch {
    return msg;
  }
}

/** The end of a switch that handled every case: a compile error when one is added and not handled. */
export function unreachable(x: never): never {
  throw new Error(`unreachable: ${JSON.stringify(x)}`);
}
