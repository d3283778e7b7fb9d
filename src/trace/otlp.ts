// A build as OpenTelemetry spans, sent to a collector (Jaeger, Tempo, Honeycomb,
// an otel-collector...) over OTLP/HTTP with the JSON encoding:
// https://opentelemetry.io/docs/specs/otlp/#otlphttp
//
// IDs are derived from the build id and job names rather than drawn at random,
// so exporting the same build twice gives the same trace (a collector dedups
// it) and a nested task can name its parent's span without asking anyone.
import type { TaskRecord } from "./record";

export type AnyValue = { stringValue: string } | { intValue: string } | { arrayValue: { values: AnyValue[] } };
export interface KeyValue {
  key: string;
  value: AnyValue;
}
export interface OtlpSpan {
  traceId: string; // 32 hex
  spanId: string; // 16 hex
  parentSpanId?: string;
  name: string;
  kind: 1; // SPAN_KIND_INTERNAL
  startTimeUnixNano: string; // uint64 as a decimal string, as OTLP/JSON wants
  endTimeUnixNano: string;
  attributes: KeyValue[];
  status: { code: 0 | 2; message?: string }; // UNSET or ERROR
}
export interface ExportTraceServiceRequest {
  resourceSpans: {
    resource: { attributes: KeyValue[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

const hex = (text: string, chars: number) => new Bun.CryptoHasher("sha256").update(text).digest("hex").slice(0, chars);
export const traceIdOf = (buildId: string) => hex(`taskrunner trace\0${buildId}`, 32);
export const taskSpanIdOf = (buildId: string, job: string) => hex(`taskrunner task\0${buildId}\0${job}`, 16);
const phaseSpanId = (buildId: string, job: string, i: number) => hex(`taskrunner phase\0${buildId}\0${job}\0${i}`, 16);

const str = (key: string, v: string): KeyValue => ({ key, value: { stringValue: v } });
const int = (key: string, v: number): KeyValue => ({ key, value: { intValue: String(Math.trunc(v)) } });

/**
 * Epoch ms (a float) to ns as a decimal string. Multiplying the float by 1e6
 * would pass 2^53 and lose the sub-ms part, so whole ms and fraction go apart.
 */
export function unixNano(ms: number): string {
  const whole = Math.floor(ms);
  const frac = Math.round((ms - whole) * 1e6);
  return (BigInt(whole) * 1_000_000n + BigInt(frac)).toString();
}

export function otlpPayload(buildId: string, records: TaskRecord[]): ExportTraceServiceRequest {
  const traceId = traceIdOf(buildId);
  const jobs = new Set(records.map((r) => r.job));
  const spans: OtlpSpan[] = [];
  for (const r of records) {
    const spanId = taskSpanIdOf(buildId, r.job);
    const attributes = [
      str("taskrunner.job", r.job),
      str("taskrunner.outcome", r.outcome),
      int("taskrunner.exit_code", r.exitCode),
      int("process.pid", r.pid),
    ];
    if (r.explain?.length)
      attributes.push({
        key: "taskrunner.explain",
        value: { arrayValue: { values: r.explain.map((l) => ({ stringValue: l })) } },
      });
    const span: OtlpSpan = {
      traceId,
      spanId,
      name: r.job,
      kind: 1,
      startTimeUnixNano: unixNano(r.start),
      endTimeUnixNano: unixNano(Math.max(r.end, r.start)),
      attributes,
      status: status(r),
    };
    // Link only to a parent that has a record: a dangling parent id makes some
    // backends hide the span, while a root span is always shown.
    if (r.parent !== null && r.parent !== r.job && jobs.has(r.parent))
      span.parentSpanId = taskSpanIdOf(buildId, r.parent);
    spans.push(span);
    r.phases.forEach((p, i) => {
      spans.push({
        traceId,
        spanId: phaseSpanId(buildId, r.job, i),
        parentSpanId: spanId,
        name: p.name,
        kind: 1,
        startTimeUnixNano: unixNano(p.start),
        endTimeUnixNano: unixNano(Math.max(p.end, p.start)),
        attributes: [str("taskrunner.job", r.job), str("taskrunner.phase", p.name)],
        status: { code: 0 },
      });
    });
  }
  return {
    resourceSpans: [
      {
        resource: { attributes: [str("service.name", "taskrunner"), str("taskrunner.build_id", buildId)] },
        scopeSpans: [{ scope: { name: "taskrunner" }, spans }],
      },
    ],
  };
}

function status(r: TaskRecord): OtlpSpan["status"] {
  if (r.outcome === "failed") return { code: 2, message: `exit code ${r.exitCode}` };
  if (r.outcome === "interrupted") return { code: 2, message: "interrupted" };
  return { code: 0 };
}

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim().slice(0, 300);

/**
 * POSTs the payload to <endpoint>/v1/traces. Null when the collector took it,
 * otherwise one line saying why not. Never throws: a trace that cannot be sent
 * must not change the build's outcome.
 */
export async function exportOtlp(
  endpoint: string,
  payload: ExportTraceServiceRequest,
  timeoutMs = 5000,
): Promise<string | null> {
  const url = `${endpoint.replace(/\/+$/, "")}/v1/traces`;
  try {
    // The signal also covers reading the body, so a collector that answers
    // headers and then stalls cannot hold the end of the build either.
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await res.text();
    if (!res.ok) return oneLine(`HTTP ${res.status} ${res.statusText}${body ? `: ${body}` : ""}`);
    return partialRejection(body);
  } catch (e) {
    const err = e as Error;
    if (err.name === "TimeoutError" || err.name === "AbortError") return `no answer from ${url} within ${timeoutMs} ms`;
    return oneLine(`${url}: ${err.message || String(e)}`);
  }
}

/** A 200 can still carry "partialSuccess" with rejected spans: that is worth a warning. */
function partialRejection(body: string): string | null {
  try {
    const p = JSON.parse(body)?.partialSuccess;
    const rejected = Number(p?.rejectedSpans ?? 0);
    if (rejected > 0)
      return oneLine(`collector rejected ${rejected} span(s)${p.errorMessage ? `: ${p.errorMessage}` : ""}`);
  } catch {
    // An empty or non-JSON 2xx body is a plain success: collectors may send either.
  }
  return null;
}
