/**
 * QMP (QEMU Machine Protocol) client over mutual TLS.
 *
 * QEMU's monitor chardev accepts one client at a time and makes any further client wait forever,
 * so every network step here runs against a deadline; a step that misses it closes the
 * connection, which also cancels the pending Deno operation.
 */
import type { ClientTls } from "./ca.ts";
import { errorMessage, ExitCode, UserError } from "./errors.ts";

/** Options for {@linkcode QmpClient.connect}. */
export interface QmpConnectOptions {
  /** Budget for TCP connect, TLS handshake, greeting and capability negotiation; default 10 s. */
  timeoutMs?: number;
  /** Address QEMU listens on; default `127.0.0.1`, the address its certificate names. */
  host?: string;
}

/** Options for {@linkcode QmpClient.execute}. */
export interface QmpExecuteOptions {
  /**
   * How long to wait for the reply once the command is sent (earlier commands finish first);
   * default 10 s. A missed deadline closes the session, since a late reply would be out of step.
   */
  timeoutMs?: number;
}

/** The greeting QEMU sends when a client connects. */
export interface QmpGreeting {
  QMP: {
    version: { qemu: { major: number; minor: number; micro: number }; package: string };
    capabilities: string[];
  };
}

/** An asynchronous event QEMU sent between replies, e.g. `STOP` or `SHUTDOWN`. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

/** QEMU answered a command with an error reply. */
export class QmpError extends Error {
  /** QMP's error class, e.g. `GenericError` or `CommandNotFound`. */
  readonly errorClass: string;
  /** QMP's human-readable description. */
  readonly desc: string;
  /** The command that failed. */
  readonly command: string;

  constructor(command: string, errorClass: string, desc: string) {
    super(`QMP command "${command}" failed: ${desc} (${errorClass})`);
    this.name = "QmpError";
    this.command = command;
    this.errorClass = errorClass;
    this.desc = desc;
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
const TIMED_OUT = Symbol("timed out");
const encoder = new TextEncoder();

type Reply = { return: unknown; id?: unknown } | {
  error: { class: string; desc: string };
  id?: unknown;
};

/** A QMP session with one QEMU instance; commands run one at a time, in call order. */
export class QmpClient {
  /** Events received so far, oldest first. */
  readonly events: QmpEvent[] = [];

  readonly #conn: Deno.TlsConn;
  readonly #address: string;
  readonly #decoder = new TextDecoder();
  readonly #chunk = new Uint8Array(16 * 1024);
  #pending = "";
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #greeting: QmpGreeting | undefined;

  private constructor(conn: Deno.TlsConn, address: string) {
    this.#conn = conn;
    this.#address = address;
  }

  /** Connects over mutual TLS, reads the greeting and leaves capability negotiation mode. */
  static async connect(
    port: number,
    tls: ClientTls,
    options: QmpConnectOptions = {},
  ): Promise<QmpClient> {
    const host = options.host ?? "127.0.0.1";
    const address = `${host}:${port}`;
    const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const action = `Connecting to QEMU's monitor at ${address}`;
    let conn: Deno.TlsConn;
    try {
      const connecting = Deno.connectTls({
        hostname: host,
        port,
        caCerts: [tls.caCert],
        cert: tls.cert,
        key: tls.key,
      });
      const result = await beforeDeadline(connecting, deadline);
      if (result === TIMED_OUT) {
        connecting.then((late) => late.close(), () => {});
        throw timeoutError(action, BUSY_HINT);
      }
      conn = result;
    } catch (error) {
      throw connectError(action, error);
    }

    // The TLS handshake runs inside the first read, so reading the greeting is also where a
    // refusal of our certificate (EOF) or a monitor busy with another client (no answer) shows.
    const client = new QmpClient(conn, address);
    try {
      const greeting = await client.#readMessage(deadline, "Reading QEMU's greeting", BUSY_HINT);
      if (greeting === null) {
        throw new Deno.errors.UnexpectedEof("connection closed before the QMP greeting");
      }
      if (!("QMP" in greeting)) {
        throw new UserError(`${action} failed: the server sent no QMP greeting`, {
          hint: "Another program may be listening on this port; restart the instance with " +
            "`cubic stop <name>` and `cubic start <name>`.",
        });
      }
      client.#greeting = greeting as unknown as QmpGreeting;
      await client.#command("qmp_capabilities", undefined, deadline, false);
      return client;
    } catch (error) {
      client.close();
      throw connectError(action, error);
    }
  }

  /** The greeting QEMU sent, including its version. */
  get greeting(): QmpGreeting {
    if (this.#greeting === undefined) throw new Error("QMP greeting read before connect finished");
    return this.#greeting;
  }

  /** Runs a command and resolves to its `return` value; an error reply rejects with QmpError. */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    options: QmpExecuteOptions = {},
  ): Promise<T> {
    // The clock starts when the command's turn comes, not while it waits behind earlier ones.
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return this.#enqueue(() =>
      this.#command(command, args, Date.now() + timeoutMs, false)
    ) as Promise<T>;
  }

  /**
   * Asks QEMU to exit and closes the session. QEMU may close the connection before replying;
   * that EOF (or reset) counts as success.
   */
  async quit(options: QmpExecuteOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    try {
      await this.#enqueue(() => this.#command("quit", undefined, Date.now() + timeoutMs, true));
    } finally {
      this.close();
    }
  }

  /** Closes the connection; safe to call more than once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by Deno after an error; nothing left to release.
    }
  }

  #enqueue(task: () => Promise<unknown>): Promise<unknown> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #command(
    command: string,
    args: Record<string, unknown> | undefined,
    deadline: number,
    eofIsSuccess: boolean,
  ): Promise<unknown> {
    if (this.#closed) {
      throw new Error(`QMP command "${command}" cannot run: the session is closed`);
    }
    const id = `cubic-${this.#nextId++}`;
    const message: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) message.arguments = args;
    const request = JSON.stringify(message);
    const what = `QMP command "${command}"`;
    const hint = "QEMU did not answer; the instance may be hung. Stop it with `cubic stop <name>`.";
    // QEMU 7.2 reads QMP one byte at a time, and bytes GnuTLS has already decrypted stay in its
    // buffer until another TLS record arrives to wake the chardev: the tail of each record lags
    // one command behind. Sending the JSON as one record and the newline as its own record makes
    // the lagging byte harmless whitespace, so every reply arrives in time (and `quit` runs).
    try {
      await this.#write(encoder.encode(request), deadline, what, hint);
      await this.#write(encoder.encode("\n"), deadline, what, hint);
    } catch (error) {
      // For `quit`, a hangup at any point means QEMU is gone, which is what was asked: QEMU only
      // drops its monitor client when it exits, and may exit before the newline arrives.
      if (eofIsSuccess && isHangup(error)) return undefined;
      throw this.#ioError(what, error);
    }

    while (true) {
      let message: Record<string, unknown> | null;
      try {
        message = await this.#readMessage(deadline, `Waiting for the reply to ${what}`, hint);
      } catch (error) {
        if (eofIsSuccess && isHangup(error)) return undefined;
        throw this.#ioError(what, error);
      }
      if (message === null) {
        if (eofIsSuccess) return undefined;
        throw new UserError(`${what} failed: QEMU closed the monitor connection`, {
          hint: "The instance may have stopped; check it with `cubic list`.",
        });
      }
      if ("event" in message) {
        this.events.push(message as unknown as QmpEvent);
        continue;
      }
      // A reply without an id answers a request QEMU could not parse; ours is the only one in
      // flight. Replies with another id cannot come from this session (it closes on a timeout),
      // but skipping them costs nothing.
      if ("id" in message && message.id !== id) continue;
      if ("error" in message || "return" in message) {
        const reply = message as Reply;
        if ("error" in reply) throw new QmpError(command, reply.error.class, reply.error.desc);
        return reply.return;
      }
    }
  }

  /** Writes all bytes; Deno's errors propagate unchanged, a missed deadline as a UserError. */
  async #write(bytes: Uint8Array, deadline: number, what: string, hint: string): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#beforeDeadline(
        this.#conn.write(bytes.subarray(offset)),
        deadline,
        what,
        hint,
      );
    }
  }

  /** Next JSON message, or null at a clean EOF; Deno's errors propagate unchanged. */
  async #readMessage(
    deadline: number,
    what: string,
    hint: string,
  ): Promise<Record<string, unknown> | null> {
    while (true) {
      const newline = this.#pending.indexOf("\n");
      if (newline >= 0) {
        const line = this.#pending.slice(0, newline).trim();
        this.#pending = this.#pending.slice(newline + 1);
        if (line === "") continue;
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch (error) {
          throw new Error(`QMP sent a line that is not JSON: ${JSON.stringify(line)}`, {
            cause: error,
          });
        }
      }
      const count = await this.#beforeDeadline(
        this.#conn.read(this.#chunk),
        deadline,
        what,
        hint,
      );
      if (count === null) return null;
      this.#pending += this.#decoder.decode(this.#chunk.subarray(0, count), { stream: true });
    }
  }

  /** Races a connection operation against the deadline; on timeout closes the connection. */
  async #beforeDeadline<T>(
    operation: Promise<T>,
    deadline: number,
    what: string,
    hint: string,
  ): Promise<T> {
    const result = await beforeDeadline(operation, deadline);
    if (result !== TIMED_OUT) return result;
    this.close();
    // Closing cancels the operation; wait for it to settle so no Deno op outlives the session.
    await beforeDeadline(operation.catch(() => {}), Date.now() + 1000);
    throw timeoutError(`${what} on ${this.#address}`, hint);
  }

  #ioError(what: string, error: unknown): Error {
    if (error instanceof UserError) return error;
    if (this.#closed && !isHangup(error)) {
      return new Error(`${what} was interrupted: the session was closed`, { cause: error });
    }
    return new UserError(`${what} on ${this.#address} failed: ${errorMessage(error)}`, {
      hint: "The instance may have stopped; check it with `cubic list`.",
      cause: error,
    });
  }
}

/**
 * Opens a TLS connection with the given credentials and reports whether the server let it in.
 * "refused" means the server ended the connection (EOF, reset or TLS alert) before sending data;
 * "accepted" means it sent data or kept the connection open for `timeoutMs` after the handshake.
 * Failures that are not a server's refusal (nothing listening, our own check of the server's
 * certificate, a handshake that never finishes) throw, so they cannot pass for a refusal.
 */
export async function tryConnectTls(
  port: number,
  tls: Partial<ClientTls> & { caCert: string },
  timeoutMs: number,
): Promise<"accepted" | "refused"> {
  const deadline = Date.now() + timeoutMs;
  const options: Deno.ConnectTlsOptions & Partial<Deno.TlsCertifiedKeyPem> = {
    hostname: "127.0.0.1",
    port,
    caCerts: [tls.caCert],
  };
  if (tls.cert !== undefined && tls.key !== undefined) {
    options.cert = tls.cert;
    options.key = tls.key;
  }
  const connecting = Deno.connectTls(options as Deno.ConnectTlsOptions);
  const connected = await beforeDeadline(connecting, deadline);
  if (connected === TIMED_OUT) {
    connecting.then((late) => late.close(), () => {});
    throw new Error(`TCP connect to 127.0.0.1:${port} timed out`);
  }
  const conn = connected;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      conn.close();
    } catch {
      // Deno may already have dropped the resource after a failed read.
    }
  };
  try {
    const handshake = conn.handshake();
    let shaken: Deno.TlsHandshakeInfo | typeof TIMED_OUT;
    try {
      shaken = await beforeDeadline(handshake, deadline);
    } catch (error) {
      if (isServerRefusal(error)) return "refused";
      throw error;
    }
    if (shaken === TIMED_OUT) {
      close();
      await beforeDeadline(handshake.catch(() => {}), Date.now() + 1000);
      throw new Error(`TLS handshake with 127.0.0.1:${port} did not finish in ${timeoutMs} ms`);
    }
    // With TLS 1.3 the client finishes its handshake before the server checks the client's
    // certificate, so a refusal only shows up on the first read.
    const reading = conn.read(new Uint8Array(1));
    let read: number | null | typeof TIMED_OUT;
    try {
      read = await beforeDeadline(reading, deadline);
    } catch (error) {
      if (isServerRefusal(error)) return "refused";
      throw error;
    }
    if (read === TIMED_OUT) {
      close();
      await beforeDeadline(reading.catch(() => {}), Date.now() + 1000);
      return "accepted";
    }
    return read === null ? "refused" : "accepted";
  } finally {
    close();
  }
}

function beforeDeadline<T>(operation: Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()));
  });
  return Promise.race([operation, timeout]).finally(() => clearTimeout(timer));
}

/** The peer went away: EOF in the middle of TLS, a reset, or a write to a closed socket. */
function isHangup(error: unknown): boolean {
  return error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BrokenPipe;
}

/** A hangup or a TLS alert the server sent; not our own rejection of the server's certificate. */
function isServerRefusal(error: unknown): boolean {
  if (isHangup(error)) return true;
  return error instanceof Error && /received fatal alert/i.test(error.message);
}

const BUSY_HINT = "QEMU's monitor serves one client at a time: another `cubic` command may be " +
  "using this instance; wait for it to finish and retry.";

function timeoutError(what: string, hint: string): UserError {
  return new UserError(`${what} timed out`, {
    hint,
    exitCode: ExitCode.timeout,
    code: "Timeout",
  });
}

function connectError(action: string, error: unknown): UserError {
  if (error instanceof UserError) return error;
  const restart = "restart the instance with `cubic stop <name>` and `cubic start <name>`.";
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new UserError(`${action} failed: connection refused`, {
      hint: "The instance is not running; start it with `cubic start <name>`.",
      cause: error,
    });
  }
  if (isHangup(error)) {
    return new UserError(`${action} failed: QEMU closed the connection during the TLS handshake`, {
      hint: `QEMU did not accept this instance's client certificate; ${restart}`,
      cause: error,
    });
  }
  if (error instanceof Deno.errors.InvalidData && /certificate/i.test(error.message)) {
    return new UserError(`${action} failed: ${error.message}`, {
      hint: "The server's certificate was not issued by this instance's CA: another program may " +
        `hold the port, or the instance's TLS directory changed; ${restart}`,
      cause: error,
    });
  }
  return new UserError(`${action} failed: ${errorMessage(error)}`, {
    hint: `Check that the instance is running; ${restart}`,
    cause: error,
  });
}
