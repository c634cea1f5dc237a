/**
 * The errors the client throws: every `application/problem+json` answer (RFC 9457) as an
 * `ApiProblem` carrying the contract's `Problem` fields, so a frontend branches on `status` or
 * `type` and shows `detail`, or the field errors of `errors` next to their inputs.
 */
import type { components } from "./schema.js";

export type Problem = components["schemas"]["Problem"];
export type ValidationError = components["schemas"]["ValidationError"];

export class ApiProblem extends Error implements Problem {
  override name = "ApiProblem";
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance: string;
  readonly request_id: string;
  readonly errors: ValidationError[];
  /** The whole body: some problems carry more (a failed batch's `results`). */
  readonly body: Problem & Record<string, unknown>;

  constructor(body: Problem & Record<string, unknown>, readonly response: Response) {
    super(`${body.status} ${body.title}: ${body.detail}`);
    this.body = body;
    this.type = body.type;
    this.title = body.title;
    this.status = body.status;
    this.detail = body.detail;
    this.instance = body.instance;
    this.request_id = body.request_id;
    this.errors = body.errors ?? [];
  }

  /** The problem an error answer carries (one that is not problem+json is described as one). */
  static async from(response: Response): Promise<ApiProblem> {
    const text = await response.text();
    if (isProblemAnswer(response)) {
      try {
        return new ApiProblem(JSON.parse(text) as Problem & Record<string, unknown>, response);
      } catch {
        // not JSON after all: described below
      }
    }
    const body = {
      type: "about:blank",
      title: response.statusText || `HTTP ${response.status}`,
      status: response.status,
      detail: text.slice(0, 500),
      instance: new URL(response.url || "http://invalid/").pathname,
      request_id: response.headers.get("X-Request-ID") ?? "",
    };
    return new ApiProblem(body, response);
  }
}

export function isProblemAnswer(response: Response): boolean {
  return (response.headers.get("Content-Type") ?? "").startsWith("application/problem+json");
}

/** Thrown by calls that need a session when there is none (before login, after logout). */
export class NotLoggedIn extends Error {
  override name = "NotLoggedIn";
  constructor() {
    super("not logged in: call login() first");
  }
}
