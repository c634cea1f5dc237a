/**
 * Account recovery as a person meets it (SPEC §12), against a service that mails through the
 * flow's own SMTP server (src/mailbox.ts): sign up, read the verification mail, follow its link
 * (the token it carries sent the way the frontend's /verify-email page sends it), forget the
 * password, reset it through the mailed link, log in with the new one, and see the old session
 * refused (its access token and its refresh token 401) and the used links invalid.
 * Run by src/e2e.ts, which starts the mailbox and gives the service its SMTP_URL and APP_URL.
 */
import { randomUUID } from "node:crypto";

import { check, expectEmpty, expectProblem, expectStatus, makeClient, refreshTokenOf } from "./api.js";
import { type Mailbox, header, linkIn } from "./mailbox.js";

const INVALID_TOKEN = "urn:todo-api:problem:invalid-token";

export async function recoveryFlow(apiUrl: string, appUrl: string, mailbox: Mailbox): Promise<void> {
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const result = await run();
    console.log(`ok   ${name}`);
    return result;
  };
  const api = makeClient(apiUrl);
  const email = `grace-${randomUUID()}@example.org`;
  const password = "first password 1906";
  const newPassword = "second password 1992";

  const user = await step("signup: 201, the email not yet verified", async () => {
    const created = expectStatus(await api.POST("/api/auth/signup", { body: { email, password, name: "Grace Hopper" } }), 201);
    check(created.email_verified === false, "a new account's email counted as verified");
    return created;
  });

  const verifyToken = await step("the verification mail arrives, its link opens APP_URL/verify-email", async () => {
    const [mail] = await mailbox.waitFor(email);
    check(mail !== undefined, "no verification mail");
    check(header(mail.raw, "Subject") === "Confirm your email address", `subject: ${header(mail.raw, "Subject")}`);
    const { link, token } = linkIn(mail.raw, "verify-email");
    check(link.startsWith(`${appUrl}/verify-email?token=`), `the link opens ${link}, not the frontend at ${appUrl}`);
    return token;
  });

  await step("the link's token verifies the address: 200 User, email_verified", async () => {
    const verified = expectStatus(await api.POST("/api/auth/verify-email", { body: { token: verifyToken } }), 200);
    check(verified.id === user.id && verified.email_verified, "the address is not verified");
  });

  await step("the same link again: 400 invalid-token", async () => {
    const problem = expectProblem(await api.POST("/api/auth/verify-email", { body: { token: verifyToken } }), 400);
    check(problem.type === INVALID_TOKEN, `problem type ${problem.type}`);
  });

  const old = await step("log in: the session the reset will end", async () =>
    expectStatus(await api.POST("/api/auth/login", { body: { email, password } }), 200),
  );
  const oldSession = makeClient(apiUrl, () => old.access_token);
  expectStatus(await oldSession.GET("/api/me"), 200);

  await step("forgot password, for the address in capitals and for nobody's: the same 202", async () => {
    const known = await api.POST("/api/auth/password-reset", { body: { email: email.toUpperCase() } });
    const unknown = await api.POST("/api/auth/password-reset", { body: { email: `nobody-${randomUUID()}@example.org` } });
    const [a, b] = [expectStatus(known, 202), expectStatus(unknown, 202)];
    check(JSON.stringify(a) === JSON.stringify(b), `the answers differ: ${JSON.stringify(a)} / ${JSON.stringify(b)}`);
  });

  const resetToken = await step("the reset mail arrives, at the address the account has, its link opens APP_URL/reset-password", async () => {
    const mails = await mailbox.waitFor(email, 2);
    const mail = mails[1];
    check(mail !== undefined, "no reset mail");
    check(mail.to.includes(email), `the reset mail went to ${mail.to.join(", ")}`);
    const { link, token } = linkIn(mail.raw, "reset-password");
    check(link.startsWith(`${appUrl}/reset-password?token=`), `the link opens ${link}`);
    return token;
  });

  await step("the reset page sends the token and a new password: 204", async () => {
    expectEmpty(await api.POST("/api/auth/password-reset/confirm", { body: { token: resetToken, new_password: newPassword } }), 204);
  });

  await step("the old session is refused: its access token and its refresh token are 401", async () => {
    expectProblem(await oldSession.GET("/api/me"), 401);
    expectProblem(await api.POST("/api/auth/refresh", { body: { refresh_token: refreshTokenOf(old) } }), 401);
  });

  await step("the old password is refused, the new one logs in, the email still verified", async () => {
    expectProblem(await api.POST("/api/auth/login", { body: { email, password } }), 401);
    const pair = expectStatus(await api.POST("/api/auth/login", { body: { email, password: newPassword } }), 200);
    check(pair.user.id === user.id && pair.user.email_verified, "not the same, verified account");
  });

  await step("the reset link again: 400 invalid-token", async () => {
    const again = await api.POST("/api/auth/password-reset/confirm", { body: { token: resetToken, new_password: "third password 2024" } });
    check(expectProblem(again, 400).type === INVALID_TOKEN, "a used reset link was not invalid-token");
  });
}
