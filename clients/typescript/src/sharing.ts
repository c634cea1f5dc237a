/**
 * Sharing a list as two people meet it (SPEC §11), against a service that mails through the
 * flow's own SMTP server (src/mailbox.ts): the owner invites an address, the invitation mail's
 * link opens APP_URL/invitations/{id}; the invitee signs up with that address and verifies it
 * through its mail, sees the invitation, accepts it and joins the list; both see the members;
 * the owner demotes the invitee to viewer (whose attempt at an owner's operation is then 403
 * permission-denied naming the role) and removes them (the list is then a 404 to them).
 * Run by src/e2e.ts, which starts the mailbox and gives the service its SMTP_URL and APP_URL.
 */
import { randomUUID } from "node:crypto";

import { type Schemas, check, expectEmpty, expectProblem, expectStatus, makeClient } from "./api.js";
import { type Mailbox, header, linkIn, plainText } from "./mailbox.js";

type Member = Schemas["Member"];

export async function sharingFlow(apiUrl: string, appUrl: string, mailbox: Mailbox): Promise<void> {
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const result = await run();
    console.log(`ok   ${name}`);
    return result;
  };
  const api = makeClient(apiUrl);
  const password = "shared lists 1843";
  const ownerEmail = `ada-${randomUUID()}@example.org`;
  const inviteeEmail = `grace-${randomUUID()}@example.org`;

  const login = async (email: string) => expectStatus(await api.POST("/api/auth/login", { body: { email, password } }), 200);
  expectStatus(await api.POST("/api/auth/signup", { body: { email: ownerEmail, password, name: "Ada" } }), 201);
  const ownerPair = await login(ownerEmail);
  const owner = makeClient(apiUrl, () => ownerPair.access_token);
  const ownerId = ownerPair.user.id;

  const list = await step("the owner makes a list to share", async () =>
    expectStatus(await owner.POST("/api/{user_id}/lists", { params: { path: { user_id: ownerId } }, body: { name: "Groceries" } }), 201),
  );
  const path = { user_id: ownerId, list_id: list.id };

  const invitation = await step("the owner invites an address as editor: 201 Invitation, pending, 14 days", async () => {
    const made = expectStatus(
      await owner.POST("/api/{user_id}/lists/{list_id}/invitations", { params: { path }, body: { email: inviteeEmail, role: "editor" } }),
      201,
    );
    check(made.status === "pending" && made.role === "editor" && made.list.name === "Groceries", JSON.stringify(made));
    check(made.invited_by.id === ownerId, "invited_by is not the owner");
    const days = (Date.parse(made.expires_at) - Date.parse(made.created_at)) / 86_400_000;
    check(days === 14, `it expires after ${days} days`);
    return made;
  });

  await step("the invitation mail arrives; its link opens APP_URL/invitations/{id}", async () => {
    const [mail] = await mailbox.waitFor(inviteeEmail);
    check(mail !== undefined, "no invitation mail");
    check((header(mail.raw, "Subject") ?? "").includes("invited you"), `subject: ${header(mail.raw, "Subject")}`);
    check(plainText(mail.raw).includes(`${appUrl}/invitations/${invitation.id}`), `no link to the invitation in:\n${plainText(mail.raw)}`);
  });

  const inviteePair = await step("the invitee signs up with the address and verifies it by its mail", async () => {
    expectStatus(await api.POST("/api/auth/signup", { body: { email: inviteeEmail, password, name: "Grace" } }), 201);
    const mails = await mailbox.waitFor(inviteeEmail, 2);
    const { token } = linkIn(mails[1]?.raw ?? "", "verify-email");
    expectStatus(await api.POST("/api/auth/verify-email", { body: { token } }), 200);
    return login(inviteeEmail);
  });
  const invitee = makeClient(apiUrl, () => inviteePair.access_token);
  const inviteeId = inviteePair.user.id;

  await step("the invitee sees the invitation and accepts it: 200 List", async () => {
    const { invitations } = expectStatus(await invitee.GET("/api/me/invitations"), 200);
    check(invitations.length === 1 && invitations[0]?.id === invitation.id, JSON.stringify(invitations));
    const joined = expectStatus(
      await invitee.POST("/api/me/invitations/{invitation_id}/accept", { params: { path: { invitation_id: invitation.id } } }),
      200,
    );
    check(joined.id === list.id && joined.user_id === ownerId, `joined ${JSON.stringify(joined)}`);
    const again = expectProblem(
      await invitee.POST("/api/me/invitations/{invitation_id}/accept", { params: { path: { invitation_id: invitation.id } } }),
      409,
    );
    check(again.type === "urn:todo-api:problem:invitation-answered", `a second accept: ${again.type}`);
  });

  const members = async (userId: string, client: typeof owner): Promise<Member[]> =>
    expectStatus(await client.GET("/api/{user_id}/lists/{list_id}/members", { params: { path: { user_id: userId, list_id: list.id } } }), 200)
      .members;

  await step("both list the members: the owner first, the invitee an editor", async () => {
    for (const [userId, client] of [[ownerId, owner], [inviteeId, invitee]] as const) {
      const seen = (await members(userId, client)).map((m) => `${m.user.id}:${m.role}`);
      check(seen.join() === `${ownerId}:owner,${inviteeId}:editor`, `members ${seen.join()}`);
    }
  });

  const memberPath = { ...path, member_id: inviteeId };
  await step("the owner demotes the invitee to viewer: 200 Member", async () => {
    const demoted = expectStatus(
      await owner.PATCH("/api/{user_id}/lists/{list_id}/members/{member_id}", { params: { path: memberPath }, body: { role: "viewer" } }),
      200,
    );
    check(demoted.role === "viewer" && demoted.user.id === inviteeId, JSON.stringify(demoted));
  });

  await step("the viewer cannot change roles: 403 permission-denied naming the owner role", async () => {
    const refused = expectProblem(
      await invitee.PATCH("/api/{user_id}/lists/{list_id}/members/{member_id}", {
        params: { path: { user_id: inviteeId, list_id: list.id, member_id: inviteeId } },
        body: { role: "editor" },
      }),
      403,
    );
    check(refused.type === "urn:todo-api:problem:permission-denied" && refused.required_role === "owner", JSON.stringify(refused));
  });

  await step("the owner removes them: 204, and the list is a 404 to them", async () => {
    expectEmpty(await owner.DELETE("/api/{user_id}/lists/{list_id}/members/{member_id}", { params: { path: memberPath } }), 204);
    expectProblem(
      await invitee.GET("/api/{user_id}/lists/{list_id}/members", { params: { path: { user_id: inviteeId, list_id: list.id } } }),
      404,
    );
    const left = (await members(ownerId, owner)).map((m) => m.user.id);
    check(left.join() === ownerId, `members after the removal: ${left.join()}`);
  });
}
