/**
 * A personal access token for a script (SPEC §13), as a frontend's settings page offers it: make
 * one holding `tasks:read`, use it as any bearer token to list tasks, see a write refused with
 * 403 `insufficient-scope` naming the scope needed, delete it, and see it refused with 401.
 */
import { type Api, check, expectEmpty, expectProblem, expectStatus, makeClient } from "./api.js";

type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>;

export async function tokensFlow(api: Api, baseUrl: string, userId: string, step: Step): Promise<void> {
  const made = await step("make a personal access token with tasks:read: shown once, listed without it", async () => {
    const token = expectStatus(await api.POST("/api/me/tokens", { body: { name: "flow script", scopes: ["tasks:read"] } }), 201);
    check(token.token.startsWith("tdo_") && token.scopes.join() === "tasks:read", `token ${token.name} ${token.scopes}`);
    const { tokens } = expectStatus(await api.GET("/api/me/tokens"), 200);
    check(tokens.some((t) => t.id === token.id) && !JSON.stringify(tokens).includes(token.token), "the listing shows the secret");
    return token;
  });
  const script = makeClient(baseUrl, () => made.token);
  const path = { user_id: userId };

  await step("the token lists the tasks; a write is 403 insufficient-scope naming tasks:write", async () => {
    const page = expectStatus(await script.GET("/api/{user_id}/tasks", { params: { path } }), 200);
    check(page.tasks.length > 0, "the token saw no task");
    const refused = expectProblem(await script.POST("/api/{user_id}/tasks", { params: { path }, body: { title: "no" } }), 403);
    check(refused.type === "urn:todo-api:problem:insufficient-scope", `refused as ${refused.type}`);
    check(JSON.stringify(refused.required_scopes) === '["tasks:write"]', `needs ${JSON.stringify(refused.required_scopes)}`);
    const session = expectProblem(await script.GET("/api/me/tokens"), 403);
    check(session.type === "urn:todo-api:problem:insufficient-scope", "a token reached its own kind's operations");
  });

  await step("delete the token: it is 401 at once, and deleting it again is 404", async () => {
    expectEmpty(await api.DELETE("/api/me/tokens/{token_id}", { params: { path: { token_id: made.id } } }), 204);
    expectProblem(await script.GET("/api/{user_id}/tasks", { params: { path } }), 401);
    expectProblem(await api.DELETE("/api/me/tokens/{token_id}", { params: { path: { token_id: made.id } } }), 404);
  });
}
