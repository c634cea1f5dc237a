/**
 * Dates, recurrence and reminders as a frontend uses them (SPEC §8): the account's time zone, a
 * weekly task completed twice with its next dues shown, an all-day task, and the reminders of
 * the coming week.
 */
import { type Api, type Task, check, expectProblem, expectStatus } from "./api.js";

type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>;

const weekday = (iso: string, zone: string): string =>
  new Intl.DateTimeFormat("en-GB", { weekday: "short", hour: "2-digit", minute: "2-digit", timeZone: zone }).format(
    new Date(iso),
  );

export async function timeFlow(api: Api, userId: string, step: Step): Promise<void> {
  const zone = "Europe/Berlin";
  await step("set the account's time zone; an unknown one is 422 at timezone", async () => {
    const me = expectStatus(await api.PATCH("/api/me", { body: { timezone: zone } }), 200);
    check(me.timezone === zone, `timezone ${me.timezone}`);
    const refused = expectProblem(await api.PATCH("/api/me", { body: { timezone: "Mars/Olympus" } }), 422);
    check(JSON.stringify(refused.errors?.[0]?.loc) === '["body","timezone"]', "422 not at timezone");
  });

  const path = { user_id: userId };
  const weekly = await step("create a weekly task (Mondays and Thursdays, 09:00 Berlin) with a reminder", async () => {
    const body = {
      title: "Water the plants",
      due_date: "2030-03-25T08:00:00Z", // Monday 09:00 in Berlin (CET)
      recurrence: { rule: "FREQ=WEEKLY;BYDAY=MO,TH", basis: "due" as const },
      reminders: [{ before_due: "PT15M" }],
    };
    const task = expectStatus(await api.POST("/api/{user_id}/tasks", { params: { path }, body }), 201);
    check(task.recurrence?.rule === body.recurrence.rule, "recurrence not stored");
    return task;
  });

  await step("complete it twice: each time it stays open at its next due, 09:00 local across DST", async () => {
    let task: Task = weekly;
    const shown: string[] = [weekday(task.due_date ?? "", zone)];
    for (const toggle of [false, true]) {
      const params = { path: { user_id: userId, task_id: task.id } };
      const answer = toggle
        ? await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params })
        : await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params, body: { is_completed: true } });
      task = expectStatus(answer, 200);
      check(!task.is_completed && task.last_completed_at, "a recurring task stays open and records the completion");
      shown.push(weekday(task.due_date ?? "", zone));
    }
    // Thursday 28 March is still CET (UTC+1); Monday 1 April is CEST (UTC+2): 09:00 both times
    check(task.due_date === "2030-04-01T07:00:00Z", `next due ${task.due_date}`);
    check(shown.join(" → ") === "Mon 09:00 → Thu 09:00 → Mon 09:00", `dues shown ${shown.join(" → ")}`);
    console.log(`        next dues: ${shown.join(" → ")}`);
  });

  await step("an all-day task and the week's reminders by fire_at", async () => {
    const body = { title: "Pay rent", due_on: "2030-03-31", reminders: [{ before_due: "P1D" }] };
    const rent = expectStatus(await api.POST("/api/{user_id}/tasks", { params: { path }, body }), 201);
    check(rent.due_on === "2030-03-31" && rent.due_date === null, "all-day due not kept");
    const query = { from: "2030-03-29T00:00:00Z", to: "2030-04-05T00:00:00Z" };
    const { reminders } = expectStatus(await api.GET("/api/{user_id}/reminders", { params: { path, query } }), 200);
    const listed = reminders.map((r) => `${r.title}@${r.fire_at}`).join(", ");
    // the rent's day ends at midnight Berlin (2030-03-31T22:00Z); a day before is 03-30T22:00Z
    check(
      listed === "Pay rent@2030-03-30T22:00:00Z, Water the plants@2030-04-01T06:45:00Z",
      `reminders ${listed}`,
    );
  });

  await step("page the week's reminders one at a time with next_cursor; an altered cursor is 400", async () => {
    const window = { from: "2030-03-29T00:00:00Z", to: "2030-04-05T00:00:00Z" };
    const paged: string[] = [];
    let cursor: string | null = null;
    let first: string | null = null;
    do {
      const query: { from: string; to: string; limit: number; cursor?: string } = { ...window, limit: 1 };
      if (cursor !== null) query.cursor = cursor;
      const page = expectStatus(await api.GET("/api/{user_id}/reminders", { params: { path, query } }), 200);
      check(page.reminders.length <= 1, `a page of ${page.reminders.length}`);
      paged.push(...page.reminders.map((r) => r.title));
      cursor = page.next_cursor;
      first ??= cursor;
    } while (cursor !== null && paged.length < 10);
    check(paged.join(", ") === "Pay rent, Water the plants", `paged ${paged.join(", ")}`);
    check(first !== null, "no next_cursor after the first page");
    const altered = `${first?.slice(0, -2)}${first?.endsWith("AA") ? "BB" : "AA"}`;
    const query = { ...window, cursor: altered };
    const refused = expectProblem(await api.GET("/api/{user_id}/reminders", { params: { path, query } }), 400);
    check(JSON.stringify(refused.errors?.[0]?.loc) === '["query","cursor"]', "400 not at cursor");
  });
}
