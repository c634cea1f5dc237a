/**
 * todo-api-client: the Todo API's TypeScript client (ESM, browsers and Node.js 20.19+).
 *
 *   const client = createTodoClient({ baseUrl: "http://127.0.0.1:8000" });
 *   await client.login({ email, password });
 *   const { tasks } = await ok(client.api.GET("/api/{user_id}/tasks"));
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
export { ApiProblem, NotLoggedIn, type Problem, type ValidationError } from "./problem.js";
export { type List, Replica, type ReplicaOptions, type Task } from "./replica.js";
export { type Change, type EndReason, EventStream, type Reminder, type StopReason, type StreamOptions } from "./stream.js";
export type { components, paths } from "./schema.js";
