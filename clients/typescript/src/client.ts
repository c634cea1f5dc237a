/**
 * The client a frontend creates once: `createTodoClient({ baseUrl })`. It keeps the session
 * (the token pair of the last login), sends the access token, fills `{user_id}` in every path,
 * refreshes once on a 401 for all the calls waiting on it, and throws every problem answer as
 * an `ApiProblem`. `api` is openapi-fetch typed by the contract, with `user_id` left out.
 *
 * `browserMode: true` (a single-page app): login, refresh and logout send `X-Auth-Mode:
 * browser`, so the refresh token lives in an HttpOnly cookie that no script on the page reads
 * (the session holds no `refresh_token`), and the stream's cookie lets `nativeEvents()` follow
 * `/events` with the browser's own EventSource. `resume()` restores the session after a page
 * load from that cookie. Refreshes of several tabs are serialized with the Web Locks API where
 * the browser has it: two tabs spending the same cookie at once would look like a stolen token.
 */
import createClient, { type Client } from "openapi-fetch";

import { ApiProblem, NotLoggedIn, isProblemAnswer } from "./problem.js";
import type { components, paths } from "./schema.js";
import { NativeEventStream } from "./native-stream.js";
import { EventStream, type StreamLink, type StreamOptions } from "./stream.js";

export type Schemas = components["schemas"];
export type TokenPair = Schemas["TokenPair"];
export type User = Schemas["User"];

/** Why the session ended: `logout()`, a refresh the service refused (the token was reused,
 * expired or revoked), or a stream's end (`session-ended`, `account-deleted`). */
export type LogoutReason = "logout" | "refresh-refused" | "session-ended" | "account-deleted";

export interface TodoClientOptions {
  /** The service's origin, e.g. `http://127.0.0.1:8000` (no trailing `/api`). */
  baseUrl: string;
  /** A token pair kept from an earlier login, to resume that session. */
  session?: TokenPair;
  /** Every new token pair (login, each refresh), and `undefined` when the session ends. */
  onSession?: (session: TokenPair | undefined) => void;
  /** The session ended; the user must log in again. */
  onLogout?: (reason: LogoutReason) => void;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Browser mode: the refresh token in an HttpOnly cookie instead of the session (see above).
   * For a page in a browser; leave it off in Node.js, scripts and native apps. */
  browserMode?: boolean;
}

type WithoutUserId<Ps> = Ps extends { path: infer P }
  ? "user_id" extends keyof P
    ? Omit<Ps, "path"> & ([Exclude<keyof P, "user_id">] extends [never] ? { path?: never } : { path: Omit<P, "user_id"> })
    : Ps
  : Ps;
type OperationWithoutUserId<O> = O extends { parameters: infer Ps } ? Omit<O, "parameters"> & { parameters: WithoutUserId<Ps> } : O;
/** The contract's paths with the `user_id` path parameter left to the client. */
export type UserPaths = {
  [K in keyof paths]: { [M in keyof paths[K]]: M extends "parameters" ? WithoutUserId<paths[K][M]> : OperationWithoutUserId<paths[K][M]> };
};
export type Api = Client<UserPaths>;

/** Operations that take no bearer token (security: [] in the contract). */
const PUBLIC = /\/api\/auth\/(signup|login|refresh|logout)$/;
/** Operations that read or set browser mode's cookie. */
const COOKIE_MODE = /\/api\/auth\/(login|refresh|logout)$/;
const BROWSER_MODE = { "X-Auth-Mode": "browser" } as const;
const REFRESH_LOCK = "todo-api-client refresh";
const USER_ID = /%7Buser_id%7D|\{user_id\}/g;

/** The body of an answer; problems were already thrown by the client. */
export async function ok<D>(answer: Promise<{ data?: D; error?: unknown; response: Response }>): Promise<D> {
  const { data, response } = await answer;
  if (!response.ok) throw await ApiProblem.from(response);
  return data as D;
}

export class TodoClient {
  readonly api: Api;
  readonly baseUrl: string;
  readonly browserMode: boolean;
  private current: TokenPair | undefined;
  private refreshing: Promise<TokenPair> | undefined;
  private readonly send: typeof fetch;
  private readonly listeners = new Set<(reason: LogoutReason) => void>();

  constructor(private readonly options: TodoClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.current = options.session;
    this.browserMode = options.browserMode ?? false;
    this.send = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    if (options.onLogout) this.listeners.add(options.onLogout);
    this.api = createClient<UserPaths>({ baseUrl: this.baseUrl, fetch: (request: Request) => this.authorized(request) });
  }

  /** The token pair of the current session, if any. */
  get session(): TokenPair | undefined {
    return this.current;
  }

  /** The logged-in user's id (what `{user_id}` becomes). */
  get userId(): string {
    if (!this.current) throw new NotLoggedIn();
    return this.current.user.id;
  }

  /** Calls `listener` when the session ends; returns how to stop listening. */
  onLogout(listener: (reason: LogoutReason) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A new account (201). Signup answers no tokens: log in next. */
  signup(body: Schemas["SignupRequest"]): Promise<User> {
    return ok(this.api.POST("/api/auth/signup", { body }));
  }

  /** Logs in; the client keeps the token pair and its user. */
  async login(body: Schemas["LoginRequest"]): Promise<TokenPair> {
    const pair = await ok(this.api.POST("/api/auth/login", { body }));
    this.adopt(pair);
    return pair;
  }

  /** Ends this session at the service (its refresh token stops working) and here. */
  async logout(): Promise<void> {
    const session = this.current;
    if (!session) return;
    try {
      if (this.browserMode) await this.checked(await this.sendAuth("logout"));
      else await ok(this.api.POST("/api/auth/logout", { body: { refresh_token: this.refreshTokenOf(session) } }));
    } finally {
      this.end("logout", session);
    }
  }

  /** Browser mode: the session of the refresh cookie, after a page load (undefined when it has
   * none that works: log in). */
  async resume(): Promise<TokenPair | undefined> {
    if (!this.browserMode) throw new Error("resume() needs browserMode: a native client passes `session` instead");
    if (this.current) return this.current;
    try {
      return await this.refreshOnce(undefined);
    } catch (error) {
      if (error instanceof ApiProblem && error.status === 401) return undefined;
      throw error;
    }
  }

  /** Browser mode: `/events` followed by the browser's own EventSource, opened with the stream
   * cookie of the login (see NativeEventStream). */
  nativeEvents(options: StreamOptions = {}): NativeEventStream {
    if (!this.browserMode) throw new Error("nativeEvents() needs browserMode: the stream cookie comes with it");
    return new NativeEventStream(this.link, options);
  }

  /** `/events`, followed with reconnection from the last id (see EventStream). */
  events(options: StreamOptions = {}): EventStream {
    return new EventStream(this.link, options);
  }

  /** A fresh access token once per expiry however many calls ask at once: `used` is the token
   * that was refused; when the session already moved past it, the current one is returned. */
  async renew(used?: string): Promise<string> {
    if (!this.current) throw new NotLoggedIn();
    if (used !== undefined && this.current.access_token !== used) return this.current.access_token;
    return (await this.refreshOnce(this.current)).access_token;
  }

  /** One refresh at a time in this client, shared by every caller that asks meanwhile. */
  private refreshOnce(session: TokenPair | undefined): Promise<TokenPair> {
    this.refreshing ??= this.refresh(session).finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private readonly link: StreamLink = {
    url: (path) => `${this.baseUrl}${path.replace(USER_ID, encodeURIComponent(this.userId))}`,
    token: () => {
      if (!this.current) throw new NotLoggedIn();
      return this.current.access_token;
    },
    renew: (used) => this.renew(used),
    refresh: () => this.refreshOnce(this.current).then(() => undefined),
    fetch: (input, init) => this.send(input, init),
    ended: (reason) => this.end(reason, this.current),
  };

  private async authorized(request: Request): Promise<Response> {
    const url = request.url.replace(USER_ID, () => encodeURIComponent(this.userId));
    const body = request.method === "GET" || request.method === "HEAD" ? undefined : await request.arrayBuffer();
    const cookies = this.browserMode && COOKIE_MODE.test(new URL(url).pathname);
    const send = (token: string | undefined): Promise<Response> => {
      const headers = new Headers(request.headers);
      if (token !== undefined) headers.set("Authorization", `Bearer ${token}`);
      if (cookies) headers.set("X-Auth-Mode", "browser");
      const credentials = cookies ? "include" : request.credentials;
      return this.send(url, { method: request.method, headers, body: body ?? null, signal: request.signal, credentials });
    };
    const token = PUBLIC.test(new URL(url).pathname) ? undefined : this.current?.access_token;
    const response = await send(token);
    if (response.status !== 401 || token === undefined) return this.checked(response);
    return this.checked(await send(await this.renew(token)));
  }

  private async checked(response: Response): Promise<Response> {
    if (!response.ok && isProblemAnswer(response)) throw await ApiProblem.from(response);
    return response;
  }

  private async refresh(session: TokenPair | undefined): Promise<TokenPair> {
    const locks = this.browserMode ? globalThis.navigator?.locks : undefined;
    if (locks === undefined) return this.refreshed(session);
    return locks.request(REFRESH_LOCK, () => this.refreshed(session));
  }

  private async refreshed(session: TokenPair | undefined): Promise<TokenPair> {
    const response = this.browserMode
      ? await this.sendAuth("refresh")
      : await this.send(`${this.baseUrl}/api/auth/refresh`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: this.refreshTokenOf(session) }),
        });
    if (!response.ok) {
      const problem = await ApiProblem.from(response);
      if (response.status === 401) this.end("refresh-refused", session);
      throw problem;
    }
    const pair = (await response.json()) as TokenPair;
    if (this.current === session) this.adopt(pair);
    return pair;
  }

  /** A browser-mode call that takes no body: the cookie carries the refresh token. */
  private sendAuth(operation: "refresh" | "logout"): Promise<Response> {
    return this.send(`${this.baseUrl}/api/auth/${operation}`, { method: "POST", headers: BROWSER_MODE, credentials: "include" });
  }

  private refreshTokenOf(session: TokenPair | undefined): string {
    if (session?.refresh_token === undefined) throw new NotLoggedIn();
    return session.refresh_token;
  }

  private adopt(pair: TokenPair): void {
    this.current = pair;
    this.options.onSession?.(pair);
  }

  /** Forgets `session` (unless a newer login replaced it) and tells the listeners, once. */
  private end(reason: LogoutReason, session: TokenPair | undefined): void {
    if (session === undefined || this.current !== session) return;
    this.current = undefined;
    this.options.onSession?.(undefined);
    for (const listener of [...this.listeners]) listener(reason);
  }
}

export function createTodoClient(options: TodoClientOptions): TodoClient {
  return new TodoClient(options);
}
