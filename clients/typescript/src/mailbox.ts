/**
 * An SMTP server of the flow's own on loopback (RFC 5321, plain, no AUTH: what the service meets
 * with `SMTP_URL=smtp://127.0.0.1:<port>`), keeping each message it accepts, and a reader of what
 * arrived: the plain-text part of a MIME message, decoded, and the token of the link in it.
 */
import { type Server, type Socket, createServer } from "node:net";

export interface Arrived {
  from: string;
  to: string[];
  raw: string;
}

export class Mailbox {
  readonly arrived: Arrived[] = [];
  private server: Server | undefined;

  /** Listens on a free loopback port; the `SMTP_URL` to give the service. */
  async start(): Promise<string> {
    this.server = createServer((socket) => this.converse(socket));
    await new Promise<void>((done) => this.server?.listen(0, "127.0.0.1", done));
    const address = this.server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    return `smtp://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((done) => (this.server ? this.server.close(() => done()) : done()));
  }

  /** The messages to `address`, once `count` have come (an error after `timeoutMs`). */
  async waitFor(address: string, count = 1, timeoutMs = 30_000): Promise<Arrived[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.arrived.filter((m) => m.to.some((to) => to.toLowerCase() === address.toLowerCase()));
      if (found.length >= count) return found;
      if (Date.now() > deadline) throw new Error(`${found.length} of ${count} mails to ${address} came in ${timeoutMs / 1000} s`);
      await new Promise((wait) => setTimeout(wait, 50));
    }
  }

  private converse(socket: Socket): void {
    let buffer = "";
    let data: string[] | undefined; // the lines of a message being received
    let from = "";
    let to: string[] = [];
    const reply = (line: string): boolean => socket.write(`${line}\r\n`);
    socket.setEncoding("latin1"); // bytes as they came (SMTPUTF8 aside, a message is ASCII)
    reply("220 flow-mailbox ESMTP");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (data) {
          if (line === ".") {
            this.arrived.push({ from, to, raw: data.join("\r\n") });
            data = undefined;
            to = [];
            reply("250 OK");
          } else data.push(line.startsWith("..") ? line.slice(1) : line);
          continue;
        }
        const path = /<([^>]*)>/.exec(line)?.[1] ?? "";
        switch (line.slice(0, 4).toUpperCase()) {
          case "EHLO":
            reply("250-flow-mailbox\r\n250-8BITMIME\r\n250 SMTPUTF8");
            break;
          case "HELO":
            reply("250 flow-mailbox");
            break;
          case "MAIL":
            from = path;
            to = [];
            reply("250 OK");
            break;
          case "RCPT":
            to.push(path);
            reply("250 OK");
            break;
          case "DATA":
            data = [];
            reply("354 End data with <CR><LF>.<CR><LF>");
            break;
          case "RSET":
            to = [];
            reply("250 OK");
            break;
          case "NOOP":
            reply("250 OK");
            break;
          case "QUIT":
            reply("221 Bye");
            socket.end();
            break;
          default:
            reply("502 Command not implemented");
        }
      }
    });
    socket.on("error", () => socket.destroy());
  }
}

/** The decoded text/plain part of a message (quoted-printable, base64 or as it is). */
export function plainText(raw: string): string {
  const parts = raw.split(/\r\n--[^\r\n]+/);
  for (const part of parts) {
    const split = part.indexOf("\r\n\r\n");
    if (split < 0) continue;
    const head = part.slice(0, split).replace(/\r\n[ \t]/g, " ");
    if (!/^content-type:\s*text\/plain/im.test(head)) continue;
    const body = part.slice(split + 4);
    const encoding = /^content-transfer-encoding:\s*(\S+)/im.exec(head)?.[1]?.toLowerCase();
    const bytes =
      encoding === "base64"
        ? Buffer.from(body.replace(/\s+/g, ""), "base64")
        : encoding === "quoted-printable"
          ? Buffer.from(
              body.replace(/=\r\n/g, "").replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
              "latin1",
            )
          : Buffer.from(body, "latin1");
    return bytes.toString("utf8");
  }
  throw new Error("no text/plain part in the message");
}

/** The header `name` of a message, unfolded (as sent: encoded words stay encoded). */
export function header(raw: string, name: string): string | undefined {
  const head = raw.slice(0, raw.indexOf("\r\n\r\n")).replace(/\r\n[ \t]/g, " ");
  return new RegExp(`^${name}:\\s*(.*)$`, "im").exec(head)?.[1];
}

/** The link to the frontend's `page` in a mail, and the token it carries. */
export function linkIn(raw: string, page: string): { link: string; token: string } {
  const link = new RegExp(`https?://\\S+/${page}\\?token=\\S+`).exec(plainText(raw))?.[0];
  if (!link) throw new Error(`no ${page} link in the mail:\n${plainText(raw)}`);
  const token = new URL(link).searchParams.get("token");
  if (!token) throw new Error(`the ${page} link carries no token: ${link}`);
  return { link, token };
}
