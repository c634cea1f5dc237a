/**
 * Webhooks as an integration uses them (SPEC §13): a receiver of its own (here, on loopback, run
 * by the flow), registered for task events; a task created; the delivery's Standard Webhooks
 * signature checked against the secret shown once at registration, and a tampered body refused.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { type IncomingHttpHeaders, createServer } from "node:http";
import type { AddressInfo } from "node:net";

import { type Api, check, expectEmpty, expectStatus } from "./api.js";

type Step = <T>(name: string, run: () => Promise<T>) => Promise<T>;

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Whether `body` carries a valid `webhook-signature` for `secret` (whsec_ + base64 key). */
export function verifySignature(secret: string, headers: IncomingHttpHeaders, body: Buffer): boolean {
  const id = String(headers["webhook-id"] ?? "");
  const timestamp = String(headers["webhook-timestamp"] ?? "");
  if (!id || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest();
  return String(headers["webhook-signature"] ?? "")
    .split(" ")
    .some((part) => {
      const [version, signature] = part.split(",", 2);
      const given = Buffer.from(signature ?? "", "base64");
      return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

export async function webhooksFlow(api: Api, userId: string, step: Step): Promise<void> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks) });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const path = { user_id: userId };
  try {
    const webhook = await step("register a webhook for task events on a receiver of our own", async () => {
      const body = { url: `http://127.0.0.1:${port}/todo`, events: ["task.*" as const] };
      const created = expectStatus(await api.POST("/api/{user_id}/webhooks", { params: { path }, body }), 201);
      check(created.secret.startsWith("whsec_") && created.enabled, "no signing secret");
      const shown = expectStatus(
        await api.GET("/api/{user_id}/webhooks/{webhook_id}", { params: { path: { ...path, webhook_id: created.id } } }),
        200,
      );
      check(!("secret" in shown), "the secret is shown again");
      return created;
    });

    await step("create a task: the delivery arrives signed, and a tampered body is refused", async () => {
      const body = { title: "Tell the hub" };
      const task = expectStatus(await api.POST("/api/{user_id}/tasks", { params: { path }, body }), 201);
      const deadline = Date.now() + 30_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const hook = received[0];
      check(hook !== undefined, "no delivery within 30 s");
      check(verifySignature(webhook.secret, hook.headers, hook.body), "the signature does not verify");
      const message = JSON.parse(hook.body.toString("utf8")) as { type: string; id: string; data: { id: string } };
      check(message.type === "task.created" && message.data.id === task.id, `delivered ${hook.body.toString()}`);
      check(message.id === hook.headers["webhook-id"], "the body's id is not the webhook-id");
      const tampered = Buffer.from(hook.body.toString("utf8").replace("Tell", "Fool"));
      check(!verifySignature(webhook.secret, hook.headers, tampered), "a tampered body verifies");
    });

    await step("the delivery log shows it delivered; deleting the webhook ends it", async () => {
      const params = { path: { ...path, webhook_id: webhook.id } };
      const deadline = Date.now() + 30_000;
      let status = "pending";
      while (status !== "delivered" && Date.now() < deadline) {
        const { deliveries } = expectStatus(await api.GET("/api/{user_id}/webhooks/{webhook_id}/deliveries", { params }), 200);
        status = deliveries[0]?.status ?? "none";
        if (status !== "delivered") await new Promise((r) => setTimeout(r, 100));
      }
      check(status === "delivered", `delivery ${status}`);
      expectEmpty(await api.DELETE("/api/{user_id}/webhooks/{webhook_id}", { params }), 204);
    });
  } finally {
    server.close();
  }
}
