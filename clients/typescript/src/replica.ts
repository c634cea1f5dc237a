/**
 * The sync helper: a local copy of the user's lists, tasks and comments, kept current the way SPEC §7
 * describes: a full sync through `/changes` (paged by `next_since`), then live events from that
 * point on `/events`. A position the feed no longer remembers (410 `sync-expired`) starts over
 * with a full sync.
 */
import { type TodoClient, ok } from "./client.js";
import { ApiProblem } from "./problem.js";
import type { components } from "./schema.js";
import type { Change, EventStream, StopReason } from "./stream.js";

export type Task = components["schemas"]["Task"];
export type List = components["schemas"]["List"];
export type Comment = components["schemas"]["Comment"];

export interface ReplicaOptions {
  /** Each change applied to the copy (from the feed or live). */
  onChange?: (change: Change) => void;
  /** The live stream stopped for good (the session ended, or close()). */
  onStop?: (reason: StopReason) => void;
  /** Changes per page of the full sync (1-1000, default 500). */
  pageSize?: number;
}

export class Replica {
  readonly tasks = new Map<string, Task>();
  readonly lists = new Map<string, List>();
  readonly comments = new Map<string, Comment>();
  /** The feed position the copy reflects. */
  since: string | undefined;
  private stream: EventStream | undefined;

  constructor(
    private readonly client: TodoClient,
    private readonly options: ReplicaOptions = {},
  ) {}

  /** Full sync (or catch-up from `since`), then follows live events. */
  async start(): Promise<void> {
    await this.pull();
    this.follow();
  }

  /** Stops following (the copy stays). */
  async stop(): Promise<void> {
    await this.stream?.close();
  }

  /** Reads `/changes` after `since` until it has nothing more; returns how many it applied. */
  async pull(): Promise<number> {
    let applied = 0;
    for (;;) {
      const query = { limit: this.options.pageSize ?? 500, ...(this.since ? { since: this.since } : {}) };
      let page: components["schemas"]["ChangePage"];
      try {
        page = await ok(this.client.api.GET("/api/{user_id}/changes", { params: { query } }));
      } catch (error) {
        if (!(error instanceof ApiProblem && error.status === 410 && this.since !== undefined)) throw error;
        this.reset();
        continue;
      }
      for (const change of page.changes) this.apply(change);
      applied += page.changes.length;
      this.since = page.next_since;
      if (!page.has_more) return applied;
    }
  }

  private follow(): void {
    const stream = this.client.events({
      ...(this.since === undefined ? {} : { lastEventId: this.since }),
      onChange: (change, id) => {
        this.apply(change);
        this.since = id;
      },
    });
    this.stream = stream;
    void stream.done.then(async (reason) => {
      if (reason === "failed" && stream.error instanceof ApiProblem && stream.error.status === 410) {
        this.reset();
        await this.start().catch(() => this.options.onStop?.("failed"));
        return;
      }
      this.options.onStop?.(reason);
    });
  }

  private reset(): void {
    this.since = undefined;
    this.tasks.clear();
    this.lists.clear();
    this.comments.clear();
  }

  private apply(change: Change): void {
    const stores: Record<string, Map<string, unknown> | undefined> = {
      task: this.tasks,
      list: this.lists,
      comment: this.comments,
    };
    const store = stores[change.kind]; // a kind of a later contract: not ours to keep
    if (store === undefined) return;
    if (change.op === "delete") store.delete(change.id);
    else store.set(change.id, change.data);
    this.options.onChange?.(change);
  }
}
