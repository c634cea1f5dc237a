/**
 * The live-events helper a frontend keeps open (SPEC §7 and §9): GET /events read with fetch (a
 * browser's EventSource cannot send the bearer header), each change applied to the local copy as
 * it arrives, the copy's `since` moved to each change's id.
 *
 * The server ends a stream with `event: end`, whose data (`StreamEnd`) says why:
 * - `token-expired`: the access token reached its `exp`. The helper gets a fresh one (`renew`, a
 *   refresh) and opens a new stream after the last change it applied (`Last-Event-ID`): nothing
 *   is missed.
 * - `reconnect` (the server stops), or a stream cut without a last event: the same, after a pause,
 *   with the token it has.
 * - `session-ended` (a logout, logout-all, the session ended, a password change) and
 *   `account-deleted`: it stops for good (`ended`); the user logs in again. So does a reconnection
 *   refused with 401 that a refresh cannot mend.
 */
import { type Schemas, check } from "./api.js";

type Change = Schemas["Change"];
export type EndReason = Schemas["StreamEnd"]["reason"];

/** What the helper keeps current: the local copy and its feed position. */
export interface Follower {
  apply(change: Change): void;
  since: string | undefined;
}

/** The access token to send, and how to get a fresh one (throws when the session is over). */
export interface Credentials {
  token(): string;
  renew(): Promise<string>;
}

const RECONNECT_PAUSE_MS = 500;
const FINAL: readonly EndReason[] = ["session-ended", "account-deleted"];

export class LiveStream {
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();
  /** Change events applied. */
  events = 0;
  /** Streams opened (more than one: it reconnected). */
  connections = 0;
  /** Why it stopped for good; undefined while it follows (or after close()). */
  ended: EndReason | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly userId: string,
    private readonly copy: Follower,
    private readonly auth: Credentials,
  ) {}

  /** Opens the stream (its answer must be a 200 event stream), then follows it in the background. */
  async open(): Promise<void> {
    const response = await this.connect(this.auth.token());
    this.done = this.follow(response);
  }

  /** Stops following. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  private async connect(token: string): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${token}` };
    if (this.copy.since) headers["Last-Event-ID"] = this.copy.since;
    const response = await fetch(`${this.baseUrl}/api/${this.userId}/events`, { headers, signal: this.abort.signal });
    if (response.status === 200) {
      check(response.body, "an event stream without a body");
      check((response.headers.get("Content-Type") ?? "").startsWith("text/event-stream"), "not an event stream");
      this.connections += 1;
    }
    return response;
  }

  private async follow(first: Response): Promise<void> {
    let response = first;
    try {
      for (;;) {
        check(response.status === 200, `events answered ${response.status}`);
        const reason = await this.read(response);
        if (reason !== undefined && FINAL.includes(reason)) {
          this.ended = reason;
          return;
        }
        if (reason === "token-expired") {
          response = await this.connect(await this.auth.renew());
        } else {
          await new Promise((resume) => setTimeout(resume, RECONNECT_PAUSE_MS));
          response = await this.connect(this.auth.token());
        }
        if (response.status === 401) {
          // the token expired while no stream was open, or the session is over
          const renewed = await this.auth.renew().catch(() => undefined);
          if (renewed === undefined) {
            this.ended = "session-ended";
            return;
          }
          response = await this.connect(renewed);
        }
      }
    } catch (error) {
      if (!this.abort.signal.aborted) throw error;
    }
  }

  /** Applies the stream's changes until it ends: the reason its last event gave, if any. */
  private async read(response: Response): Promise<EndReason | undefined> {
    check(response.body, "an event stream without a body");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields = new Map(
          block
            .split("\n")
            .filter((line) => !line.startsWith(":"))
            .map((line) => {
              const at = line.indexOf(": ");
              return [line.slice(0, at), line.slice(at + 2)] as const;
            }),
        );
        const data = fields.get("data") ?? "null";
        if (fields.get("event") === "change") {
          this.copy.apply(JSON.parse(data) as Change);
          this.copy.since = fields.get("id");
          this.events += 1;
        } else if (fields.get("event") === "end") {
          await reader.cancel();
          return (JSON.parse(data) as Schemas["StreamEnd"]).reason;
        }
      }
    }
  }
}
