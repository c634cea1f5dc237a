/**
 * `/events` followed by the browser's own `EventSource` (browser mode): it sends the stream
 * cookie that a browser-mode login or refresh set (HttpOnly: no script reads it), and the
 * browser does the reconnecting, with `Last-Event-ID`, for the life of the login: the cookie
 * lasts as long as the session, not as one access token.
 *
 * - The first connection names its starting point in the URL (`?since=`, EventSource cannot
 *   send a header); every reconnection sends `Last-Event-ID`, which the service prefers.
 * - `event: end` with `reconnect` (the service stops): the browser reconnects by itself.
 * - `session-ended`, `account-deleted`: closed for good, and the client's session ends.
 * - A reconnection the service refuses (the browser gives up on any status but 200): after a
 *   pause (doubling up to 30 s), a refresh tells whether the session still works; refused, the
 *   stream stops as `session-ended` (the client ends its session with `refresh-refused`); else
 *   a new EventSource resumes from the last id, with the stream cookie that refresh set.
 */
import { ApiProblem, NotLoggedIn } from "./problem.js";
import type { components } from "./schema.js";
import { MAX_PAUSE_MS } from "./stream.js";
import type { Change, EndReason, Reminder, StopReason, StreamLink, StreamOptions } from "./stream.js";

export class NativeEventStream {
  /** The id of the last event handed over: where a new EventSource resumes. */
  lastEventId: string | undefined;
  /** Connections opened (the browser's reconnections included). */
  connections = 0;
  /** Set once it stopped for good. */
  stopped: StopReason | undefined;
  /** Why it failed, when `stopped` is `failed`. */
  error: unknown;
  /** Settles with the reason once the stream stops for good. */
  readonly done: Promise<StopReason>;
  /** The EventSource of the moment. */
  source: EventSource | undefined;
  private finish: (reason: StopReason) => void = () => undefined;
  private ending: StopReason | undefined;
  private pause: number;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly link: StreamLink,
    private readonly options: StreamOptions,
  ) {
    this.lastEventId = options.lastEventId;
    this.pause = options.retryMs ?? 500;
    this.done = new Promise<StopReason>((resolve) => (this.finish = resolve)).then((reason) => (this.stopped = reason));
    this.open();
  }

  /** Stops following (no reconnection). */
  close(): Promise<StopReason> {
    this.stop("closed");
    return this.done;
  }

  private open(): void {
    let url: URL;
    try {
      url = new URL(this.link.url("/api/{user_id}/events"));
    } catch (error) {
      if (error instanceof NotLoggedIn) return this.stop("session-ended");
      throw error;
    }
    if (this.lastEventId !== undefined) url.searchParams.set("since", this.lastEventId);
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    source.addEventListener("open", () => {
      this.connections += 1;
      this.pause = this.options.retryMs ?? 500;
      this.options.onOpen?.();
    });
    source.addEventListener("change", (event) => {
      const { data, lastEventId } = event as MessageEvent<string>;
      this.options.onChange?.(JSON.parse(data) as Change, lastEventId);
      this.lastEventId = lastEventId;
    });
    source.addEventListener("reminder", (event) => {
      this.options.onReminder?.(JSON.parse((event as MessageEvent<string>).data) as Reminder);
    });
    source.addEventListener("end", (event) => {
      const reason: EndReason = (JSON.parse((event as MessageEvent<string>).data) as components["schemas"]["StreamEnd"]).reason;
      if (reason === "session-ended" || reason === "account-deleted") {
        this.stop(reason);
        this.link.ended(reason);
      } // token-expired (not with the cookie), reconnect: the browser reconnects by itself
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED && this.source === source && this.ending === undefined) {
        void this.recover();
      }
    });
  }

  /** The browser gave up reconnecting: see the module's comment. */
  private async recover(): Promise<void> {
    const pause = this.pause;
    this.pause = Math.min(this.pause * 2, MAX_PAUSE_MS);
    await new Promise<void>((resume) => (this.timer = setTimeout(resume, pause)));
    if (this.ending !== undefined) return;
    try {
      await this.link.refresh();
    } catch (error) {
      if (error instanceof NotLoggedIn || (error instanceof ApiProblem && error.status === 401)) {
        return this.stop("session-ended");
      }
      if (error instanceof ApiProblem && error.status < 500 && error.status !== 429) {
        this.error = error;
        return this.stop("failed");
      }
      return this.recover(); // the network, or the service busy: try again
    }
    if (this.ending === undefined) this.open();
  }

  private stop(reason: StopReason): void {
    if (this.ending !== undefined) return;
    this.ending = reason;
    clearTimeout(this.timer);
    this.source?.close();
    this.finish(reason);
  }
}
