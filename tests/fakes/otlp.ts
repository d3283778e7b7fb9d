// A local OTLP/HTTP collector for tests: records what was POSTed, or answers
// badly on purpose (an error status, or never at all).
import type { Server } from "bun";

export interface ReceivedRequest {
  method: string;
  path: string;
  contentType: string | null;
  body: unknown; // parsed JSON (the raw text when it does not parse)
}

export interface OtlpReceiver {
  /** Base URL, e.g. http://127.0.0.1:41234 (what TASKRUNNER_OTLP_ENDPOINT would be). */
  url: string;
  requests: ReceivedRequest[];
  stop(): Promise<void>;
}

export type ReceiverMode =
  | { kind: "ok" } // 200 with an empty ExportTraceServiceResponse
  | { kind: "status"; status: number; body: string }
  | { kind: "partial"; rejected: number; message: string }
  | { kind: "hang" }; // takes the request and never answers

export function startOtlpReceiver(mode: ReceiverMode = { kind: "ok" }): OtlpReceiver {
  const requests: ReceivedRequest[] = [];
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const text = await req.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text: the test then sees exactly what arrived
      }
      requests.push({
        method: req.method,
        path: new URL(req.url).pathname,
        contentType: req.headers.get("content-type"),
        body,
      });
      switch (mode.kind) {
        case "ok":
          return Response.json({});
        case "status":
          return new Response(mode.body, { status: mode.status });
        case "partial":
          return Response.json({ partialSuccess: { rejectedSpans: mode.rejected, errorMessage: mode.message } });
        case "hang":
          return new Promise<Response>(() => {});
      }
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    requests,
    // Forcefully: a hanging request must not keep the test process alive.
    stop: async () => {
      await server.stop(true);
    },
  };
}
