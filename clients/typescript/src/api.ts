/**
 * The frontend's client: openapi-fetch typed by the types openapi-typescript generates from
 * ../../openapi.yaml (src/schema.d.ts). Everything the flow sends and reads is checked by tsc
 * against the contract, so a contract change that breaks a frontend breaks `npm run typecheck`.
 */
import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type Task = Schemas["Task"];
export type TaskPage = Schemas["TaskPage"];
export type TokenPair = Schemas["TokenPair"];
export type User = Schemas["User"];
export type Api = Client<paths>;

/** What every openapi-fetch call answers: the parsed body or error, and the raw response. */
export interface Answer<D, E> {
  data?: D;
  error?: E;
  response: Response;
}

export class UnexpectedAnswer extends Error {
  override name = "UnexpectedAnswer";
}

/** A client for `baseUrl`; `token()` is asked for the access token before every request. */
export function makeClient(baseUrl: string, token: () => string | undefined = () => undefined): Api {
  const api = createClient<paths>({ baseUrl });
  api.use({
    onRequest({ request }) {
      const current = token();
      if (current !== undefined && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${current}`);
      }
      return request;
    },
  });
  return api;
}

function describe(answer: Answer<unknown, unknown>): string {
  const { response } = answer;
  const body = answer.error ?? answer.data;
  const shown = body === undefined || body === "" ? "(no body)" : JSON.stringify(body);
  return `${response.status} ${response.statusText} from ${response.url}: ${shown.slice(0, 600)}`;
}

/** The body of an answer with exactly `status`; anything else is an UnexpectedAnswer. */
export function expectStatus<D, E>(answer: Answer<D, E>, status: number): D {
  if (answer.response.status !== status || answer.data === undefined) {
    throw new UnexpectedAnswer(`expected ${status}, got ${describe(answer)}`);
  }
  return answer.data;
}

/** The refresh token of a token pair answered without browser mode (which always carries it). */
export function refreshTokenOf(pair: { refresh_token?: string }): string {
  if (pair.refresh_token === undefined) throw new UnexpectedAnswer("a token pair without its refresh token");
  return pair.refresh_token;
}

/** Like expectStatus for answers without a body (204, 304). */
export function expectEmpty(answer: Answer<unknown, unknown>, status: number): void {
  if (answer.response.status !== status) {
    throw new UnexpectedAnswer(`expected ${status}, got ${describe(answer)}`);
  }
}

/** An RFC 9457 problem answer with `status`, read the way a frontend shows it to its user. */
export function expectProblem<D>(answer: Answer<D, Problem | undefined>, status: number): Problem {
  const { response, error } = answer;
  const type = response.headers.get("Content-Type") ?? "";
  if (response.status !== status || error === undefined || !type.startsWith("application/problem+json")) {
    throw new UnexpectedAnswer(`expected a ${status} problem+json, got ${describe(answer)} (${type})`);
  }
  if (error.status !== status || !error.title || !error.detail || !error.request_id) {
    throw new UnexpectedAnswer(`malformed problem body: ${JSON.stringify(error)}`);
  }
  if (error.request_id !== response.headers.get("X-Request-ID")) {
    throw new UnexpectedAnswer(`problem request_id ${error.request_id} differs from X-Request-ID`);
  }
  return error;
}

/** The `ETag` header, which every Task answer carries. */
export function etagOf(response: Response): string {
  const etag = response.headers.get("ETag");
  if (!etag) throw new UnexpectedAnswer(`no ETag on ${response.status} from ${response.url}`);
  return etag;
}

/**
 * `PATCH .../complete` with an `Idempotency-Key`, a fresh one unless `key` is given. After a lost
 * response or a double click, send it again with the same key: the retry answers what the first
 * request answered and changes nothing, where a request without a key completes the task a second
 * time (a recurring task advances again, a toggle toggles back).
 */
export function completeTask(
  api: Api,
  path: { user_id: string; task_id: string },
  body?: Schemas["CompleteRequest"],
  options: { key?: string; ifMatch?: string } = {},
) {
  const key = options.key ?? crypto.randomUUID();
  const header = options.ifMatch === undefined ? { "Idempotency-Key": key } : { "Idempotency-Key": key, "If-Match": options.ifMatch };
  return body === undefined
    ? api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: { path, header } })
    : api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: { path, header }, body });
}

export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new UnexpectedAnswer(message);
}
