/**
 * `/events` followed the way a frontend needs it: read with fetch (it sends the bearer header,
 * which a browser's EventSource cannot), each event handed over as it arrives, and reconnection
 * from the last event id (`Last-Event-ID`) so nothing is missed.
 *
 * The service ends a stream with `event: end`, whose data (`StreamEnd`) says why:
 * - `token-expired`: the access token reached its `exp`: refresh (one refresh shared with every
 *   other call) and reconnect at once from the last id;
 * - `reconnect` (the service stops), or a connection lost without an end: reconnect after a
 *   pause that doubles up to 30 s while reconnecting keeps failing;
 * - `session-ended`, `account-deleted`: the stream stops for good and the client's session ends
 *   (its logout listeners hear why). So does a reconnection refused with 401 that a refresh
 *   cannot mend.
 */
import { ApiProblem, NotLoggedIn } from "./problem.js";
import type { components } from "./schema.js";

export type Change = components["schemas"]["Change"];
export type Reminder = components["schemas"]["Reminder"];
export type EndReason = components["schemas"]["StreamEnd"]["reason"];
/** How a stream stopped for good: the service's reason, `closed` (close()), or `failed` (see `error`). */
export type StopReason = "session-ended" | "account-deleted" | "closed" | "failed";

export interface StreamOptions {
  /** Resume after this event id (a `since` value, e.g. a change feed's `next_since`). */
  lastEventId?: string;
  onChange?: (change: Change, id: string) => void;
  onReminder?: (reminder: Reminder) => void;
  /** Each (re)connection that opened. */
  onOpen?: () => void;
  /** The first pause before reconnecting, ms (default 500). */
  retryMs?: number;
}

/** What a stream needs of its client. */
export interface StreamLink {
  url(path: string): string;
  token(): string;
  renew(used: string): Promise<string>;
  /** A refresh whatever the access token (browser mode: it also renews the stream cookie). */
  refresh(): Promise<void>;
  fetch: typeof fetch;
  ended(reason: "session-ended" | "account-deleted"): void;
}

/** The longest wait between reconnections (the pause doubles up to it). */
export const MAX_PAUSE_MS = 30_000;

export class EventStream {
  /** The id of the last event handed over: where a reconnection resumes. */
  lastEventId: string | undefined;
  /** Connections opened (more than one: it reconnected). */
  connections = 0;
  /** Set once it stopped for good. */
  stopped: StopReason | undefined;
  /** Why it failed, when `stopped` is `failed` (e.g. a 410 `sync-expired` for a too old id). */
  error: unknown;
  /** Settles with the reason once the stream stops for good. */
  readonly done: Promise<StopReason>;
  private readonly abort = new AbortController();
  private pause: number;

  constructor(
    private readonly link: StreamLink,
    private readonly options: StreamOptions,
  ) {
    this.lastEventId = options.lastEventId;
    this.pause = options.retryMs ?? 500;
    this.done = this.follow().then((reason) => (this.stopped = reason));
  }

  /** Stops following (no reconnection). */
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private async follow(): Promise<StopReason> {
    for (;;) {
      if (this.abort.signal.aborted) return "closed";
      try {
        const token = this.link.token();
        const response = await this.connect(token);
        if (response.status === 401) {
          await response.body?.cancel();
          await this.link.renew(token);
          continue;
        }
        if (response.status === 429 || response.status >= 500) {
          await response.body?.cancel();
          await this.wait();
          continue;
        }
        if (response.status !== 200 || !response.body) throw await ApiProblem.from(response);
        this.connections += 1;
        this.pause = this.options.retryMs ?? 500;
        this.options.onOpen?.();
        const reason = await this.read(response.body);
        if (reason === "session-ended" || reason === "account-deleted") {
          this.link.ended(reason);
          return reason;
        }
        if (reason === "token-expired") await this.link.renew(token);
        else await this.wait();
      } catch (error) {
        if (this.abort.signal.aborted) return "closed";
        if (error instanceof NotLoggedIn || (error instanceof ApiProblem && error.status === 401)) return "session-ended";
        if (error instanceof ApiProblem) {
          this.error = error;
          return "failed";
        }
        await this.wait(); // the network: try again
      }
    }
  }

  private connect(token: string): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
    if (this.lastEventId !== undefined) headers["Last-Event-ID"] = this.lastEventId;
    return this.link.fetch(this.link.url("/api/{user_id}/events"), { headers, signal: this.abort.signal, cache: "no-store" });
  }

  private async wait(): Promise<void> {
    const pause = this.pause;
    this.pause = Math.min(this.pause * 2, MAX_PAUSE_MS);
    await new Promise<void>((resume) => {
      const timer = setTimeout(resume, pause);
      this.abort.signal.addEventListener("abort", () => (clearTimeout(timer), resume()), { once: true });
    });
  }

  /** Hands over the stream's events until it ends: the reason of its `end` event, if any. */
  private async read(body: ReadableStream<Uint8Array>): Promise<EndReason | undefined> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let event = { type: "", data: [] as string[], id: undefined as string | undefined };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffer += decoder.decode(value, { stream: true });
        const lines = buffer.split(/\r\n|\r|\n/);
        buffer = lines.pop() ?? "";
        for (const line of lines) {
          if (line === "") {
            const reason = this.dispatch(event.type, event.data.join("\n"), event.id);
            if (reason !== undefined) return reason;
            event = { type: "", data: [], id: undefined };
            continue;
          }
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event.type = value;
          else if (field === "data") event.data.push(value);
          else if (field === "id") event.id = value;
        }
      }
    } catch (error) {
      if (this.abort.signal.aborted) throw error;
      return undefined; // the connection was lost
    } finally {
      await reader.cancel().catch(() => undefined);
    }
  }

  private dispatch(type: string, data: string, id: string | undefined): EndReason | undefined {
    if (type === "end") return (JSON.parse(data) as components["schemas"]["StreamEnd"]).reason;
    if (type === "change" && id !== undefined) {
      this.options.onChange?.(JSON.parse(data) as Change, id);
      this.lastEventId = id;
    } else if (type === "reminder") {
      this.options.onReminder?.(JSON.parse(data) as Reminder);
    }
    return undefined;
  }
}
