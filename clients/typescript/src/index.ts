/**
 * todo-api-client: the Todo API's TypeScript client (ESM, browsers and Node.js 20.19+).
 *
 *   const client = createTodoClient({ baseUrl: "http://127.0.0.1:8000" });
 *   await client.login({ email, password });
 *   const { tasks } = await ok(client.api.GET("/api/{user_id}/tasks"));
 *
 * In a single-page app: createTodoClient({ baseUrl, browserMode: true }), then
 * `await client.resume()` on each page load and `client.nativeEvents({ onChange })`.
 */
export {
  type Api,
  type LogoutReason,
  type Schemas,
  type TodoClientOptions,
  type TokenPair,
  type User,
  type UserPaths,
  TodoClient,
  createTodoClient,
  ok,
} from "./client.js";
export { NativeEventStream } from "./native-stream.js";
export { ApiProblem, NotLoggedIn, type Problem, type ValidationError } from "./problem.js";
export { type List, Replica, type ReplicaOptions, type Task } from "./replica.js";
export { type Change, type EndReason, EventStream, type Reminder, type StopReason, type StreamOptions } from "./stream.js";
export type { components, paths } from "./schema.js";
