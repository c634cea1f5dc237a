/**
 * A task's comments as a frontend shows them (SPEC §11): posted (trimmed, counted in code
 * points), listed oldest first page by page, edited with If-Match (a stale ETag is 412 with the
 * current one, which the retry sends), a blank edit refused, deleted, and carried by the change
 * feed as kind `comment`.
 */
import { type Api, type Schemas, check, etagOf, expectEmpty, expectProblem, expectStatus } from "./api.js";

type Comment = Schemas["Comment"];
type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>;

/** What a comment box counts: code points, as the contract does (not UTF-16 units). */
export const characters = (text: string): number => [...text.trim()].length;

async function allComments(api: Api, path: { user_id: string; task_id: string }): Promise<Comment[]> {
  const found: Comment[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 20; pages += 1) {
    const query = { limit: 1, ...(cursor ? { cursor } : {}) };
    const page = expectStatus(await api.GET("/api/{user_id}/tasks/{task_id}/comments", { params: { path, query } }), 200);
    found.push(...page.comments);
    if (page.next_cursor === null) return found;
    cursor = page.next_cursor;
  }
  throw new Error("too many pages");
}

export async function commentsFlow(api: Api, userId: string, step: Step): Promise<void> {
  const task = expectStatus(await api.POST("/api/{user_id}/tasks", { params: { path: { user_id: userId } }, body: { title: "Plan the trip" } }), 201);
  const path = { user_id: userId, task_id: task.id };
  const before = expectStatus(await api.GET("/api/{user_id}/changes", { params: { path: { user_id: userId } } }), 200);

  const [first, second] = await step("comment twice (trimmed, ETag), listed oldest first", async () => {
    const text = "  Booked the train 🚆👍🏽  ";
    check(characters(text) === 20 && text.trim().length === 23, "code points are not UTF-16 units");
    const made = await api.POST("/api/{user_id}/tasks/{task_id}/comments", { params: { path }, body: { body: text } });
    const one = expectStatus(made, 201);
    check(one.body === text.trim() && one.author?.id === userId && one.version === 1, `comment ${JSON.stringify(one)}`);
    check(etagOf(made.response) === '"1"', "no ETag on the new comment");
    const two = expectStatus(await api.POST("/api/{user_id}/tasks/{task_id}/comments", { params: { path }, body: { body: "Hotel next" } }), 201);
    const listed = await allComments(api, path);
    check(listed.map((c) => c.id).join() === [one.id, two.id].join(), `comments ${JSON.stringify(listed)}`);
    return [one, two];
  });
  check(first !== undefined && second !== undefined, "no comments");

  await step("edit with If-Match: a stale ETag is 412 with the current one, the retry wins", async () => {
    const commentPath = { ...path, comment_id: first.id };
    const edit = (body: string, ifMatch: string) =>
      api.PATCH("/api/{user_id}/tasks/{task_id}/comments/{comment_id}", { params: { path: commentPath, header: { "If-Match": ifMatch } }, body: { body } });
    const edited = await edit("Booked the train, seats 41-42", '"1"');
    check(expectStatus(edited, 200).version === 2, "the edit did not grow the version");
    const stale = await edit("Booked the train, seats 43-44", '"1"');
    expectProblem(stale, 412);
    const retried = expectStatus(await edit("Booked the train, seats 43-44", etagOf(stale.response)), 200);
    check(retried.version === 3 && retried.body.endsWith("43-44"), `retried ${JSON.stringify(retried)}`);
    const blank = expectProblem(await edit(" \n ", etagOf(stale.response)), 422);
    check(JSON.stringify(blank.errors?.[0]?.loc) === '["body","body"]', `blank ${JSON.stringify(blank)}`);
  });

  await step("delete one; the feed carries the comments as kind comment", async () => {
    const commentPath = { ...path, comment_id: second.id };
    expectEmpty(await api.DELETE("/api/{user_id}/tasks/{task_id}/comments/{comment_id}", { params: { path: commentPath } }), 204);
    const listed = await allComments(api, path);
    check(listed.length === 1 && listed[0]?.id === first.id, `after delete ${JSON.stringify(listed)}`);
    const query = { since: before.next_since };
    const { changes } = expectStatus(await api.GET("/api/{user_id}/changes", { params: { path: { user_id: userId }, query } }), 200);
    const comments = changes.filter((c) => c.kind === "comment").map((c) => `${c.op}:${c.id}`);
    check(comments.join() === [`upsert:${first.id}`, `delete:${second.id}`].join(), `feed ${comments.join()}`);
  });
}
