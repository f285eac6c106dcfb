/**
 * SSH to instances: per-instance Ed25519 keys, a pinned host key checked on every connection,
 * one-shot commands, interactive shells and the readiness probe.
 *
 * This is the only module that imports npm:ssh2. Every connection verifies that the guest presents
 * exactly the host key Cubic generated for it (handed over through cloud-init), so even the first
 * connection is authenticated; a different key stops the connection with
 * {@linkcode HostKeyMismatch} and is never retried.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, timingSafeEqual } from "node:crypto";
// @ts-types="@types/ssh2"
import { Client, type ClientChannel, type ConnectConfig, type ParsedKey, utils } from "ssh2";
import { errorMessage, ExitCode, UserError } from "./errors.ts";

/** An OpenSSH private key and its public half as an `ssh-ed25519 AAAA… [comment]` line. */
export interface SshKeyPair {
  /** `-----BEGIN OPENSSH PRIVATE KEY-----` text, newline-terminated. */
  privateKey: string;
  /** One authorized_keys line without a trailing newline. */
  publicKey: string;
}

/** Where and as whom to log in, with the key to log in with and the host key to expect. */
export interface SshTarget {
  /** Host to connect to, normally `127.0.0.1` (the instance's forwarded SSH port). */
  host: string;
  /** TCP port. */
  port: number;
  /** Login user in the guest. */
  user: string;
  /** The instance's OpenSSH private key text. */
  privateKey: string;
  /** The guest's host public key line; any other host key is refused. */
  hostPublicKey: string;
}

/** Where a command's input comes from: a stream, this process's stdin, or nothing (EOF at once). */
export type SshStdin = ReadableStream<Uint8Array> | "inherit" | "null";

/** Options for {@linkcode sshExec}. */
export interface SshExecOptions {
  /** Input for the remote command, sent until its EOF, then EOF to the channel; default "null". */
  stdin?: SshStdin;
  /** Receives remote stdout; defaults to writing to `Deno.stdout`. */
  stdout?: (chunk: Uint8Array) => void;
  /** Receives remote stderr; defaults to writing to `Deno.stderr`. */
  stderr?: (chunk: Uint8Array) => void;
  /** Variables to request; OpenSSH's sshd drops those its `AcceptEnv` does not list. */
  env?: Record<string, string>;
  /** Allocate a pseudo-terminal (stderr is then merged into stdout by the remote side). */
  pty?: boolean;
  /** Time allowed for TCP connect, handshake and login; default 20 s. */
  readyTimeoutMs?: number;
}

/** Options for {@linkcode sshShell}. */
export interface SshShellOptions {
  /** Variables to request; OpenSSH's sshd drops those its `AcceptEnv` does not list. */
  env?: Record<string, string>;
  /** `TERM` for the pseudo-terminal; default `$TERM`, else `xterm-256color`. */
  term?: string;
  /** Time allowed for TCP connect, handshake and login; default 20 s. */
  readyTimeoutMs?: number;
}

/** Options for {@linkcode waitForSsh}. */
export interface WaitForSshOptions {
  /** Give up after this long (at least one attempt is always made). */
  timeoutMs: number;
  /** Pause between attempts; default 500 ms. */
  intervalMs?: number;
  /** Stops waiting; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called after each failed attempt with its number (from 1) and why it failed. */
  onAttempt?: (attempt: number, lastError: string) => void;
}

/** Outcome of one login attempt: logged in, key refused, or no SSH server answering properly. */
export type SshLoginResult = "ok" | "refused" | "unreachable";

const DEFAULT_READY_TIMEOUT_MS = 20_000;
const PROBE_READY_TIMEOUT_MS = 5_000;
const DEFAULT_PROBE_INTERVAL_MS = 500;
/** How long to wait for a socket to report it closed before giving up on it. */
const CLOSE_GRACE_MS = 2_000;

/** Linux signal numbers, for the shell convention "killed by signal N exits 128+N". */
const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  HUP: 1,
  INT: 2,
  QUIT: 3,
  ILL: 4,
  TRAP: 5,
  ABRT: 6,
  BUS: 7,
  FPE: 8,
  KILL: 9,
  USR1: 10,
  SEGV: 11,
  USR2: 12,
  PIPE: 13,
  ALRM: 14,
  TERM: 15,
  STKFLT: 16,
  CHLD: 17,
  CONT: 18,
  STOP: 19,
  TSTP: 20,
  TTIN: 21,
  TTOU: 22,
  URG: 23,
  XCPU: 24,
  XFSZ: 25,
  VTALRM: 26,
  PROF: 27,
  WINCH: 28,
  IO: 29,
  PWR: 30,
  SYS: 31,
};

/** Generates an Ed25519 key pair from the OS's secure random source, in OpenSSH formats. */
export function generateEd25519KeyPair(comment?: string): SshKeyPair {
  // A newline or other control character would split the authorized_keys / cloud-init line.
  // deno-lint-ignore no-control-regex
  if (comment !== undefined && /[\u0000-\u001f\u007f]/.test(comment)) {
    throw new TypeError(`SSH key comment ${JSON.stringify(comment)} contains control characters`);
  }
  const pair = utils.generateKeyPairSync("ed25519", comment ? { comment } : {});
  const privateKey = pair.private.endsWith("\n") ? pair.private : `${pair.private}\n`;
  return { privateKey, publicKey: pair.public.trim() };
}

/** `SHA256:<unpadded base64>` of a public (or private) key, as `ssh-keygen -lf` prints it. */
export function fingerprint(publicKey: string): string {
  return blobFingerprint(publicBlob(publicKey, "public key"));
}

/** The guest presented a host key other than the one Cubic gave it; the connection was stopped. */
export class HostKeyMismatch extends UserError {
  /** `host:port` that was connected to. */
  readonly endpoint: string;
  /** Fingerprint of the host key Cubic expected. */
  readonly expected: string;
  /** Fingerprint of the host key the server presented. */
  readonly actual: string;

  constructor(endpoint: string, fingerprints: { expected: string; actual: string }) {
    const port = endpoint.slice(endpoint.lastIndexOf(":") + 1);
    super(
      `Verifying the SSH host key of ${endpoint} failed: expected ${fingerprints.expected}, ` +
        `but the server presented ${fingerprints.actual}`,
      {
        code: "HostKeyMismatch",
        hint: `Cubic gave this instance its host key at first boot and refuses any other. ` +
          `Either another program answers on port ${port} (another instance, or a leftover ` +
          `process; compare with \`cubic show <name>\`), or the guest's host keys were ` +
          `replaced. Find out which before connecting again: restore Cubic's key from the ` +
          `serial console (\`cubic console <name>\`) or recreate the instance.`,
      },
    );
    this.name = "HostKeyMismatch";
    this.endpoint = endpoint;
    this.expected = fingerprints.expected;
    this.actual = fingerprints.actual;
  }
}

/**
 * Runs one command over SSH and resolves with its exit status (killed by a signal: 128 + signal
 * number, like a shell). With stdin "inherit", a read of `Deno.stdin` may still be pending when
 * this resolves (Deno cannot abort it), which keeps the process alive: exit explicitly afterwards.
 */
export async function sshExec(
  target: SshTarget,
  command: string,
  options: SshExecOptions = {},
): Promise<number> {
  const connection = await connectOrThrow(target, options.readyTimeoutMs);
  try {
    const requests: { env?: Record<string, string>; pty?: boolean } = {};
    if (options.env !== undefined) requests.env = options.env;
    if (options.pty) requests.pty = true;
    return await runChannel(
      connection,
      (callback) => connection.client.exec(command, requests, callback),
      {
        stdin: resolveStdin(options.stdin ?? "null"),
        stdout: options.stdout ?? writeTo(Deno.stdout),
        stderr: options.stderr ?? writeTo(Deno.stderr),
      },
    );
  } finally {
    await connection.close();
  }
}

/**
 * With piped stdin the user's shell reads the script from stdin. An exec session (not a login
 * shell session) keeps the guest's message of the day out of the output.
 */
const SCRIPT_SHELL = 'exec "${SHELL:-/bin/sh}" -s';

/**
 * Opens the user's shell. On a terminal: a pseudo-terminal in raw mode that follows window
 * resizes, restoring the terminal afterwards. Otherwise no pseudo-terminal: stdin is fed to the
 * user's shell as a script ({@linkcode SCRIPT_SHELL}), without the login banner. Resolves with the shell's exit status; a pending `Deno.stdin` read may
 * outlive the call (see {@linkcode sshExec}), so exit the process afterwards.
 */
export async function sshShell(target: SshTarget, options: SshShellOptions = {}): Promise<number> {
  const shellOptions = options.env === undefined ? {} : { env: options.env };
  // Created only once connected: a stdin stream may start reading as soon as it exists.
  const io = (): ChannelIo => ({
    stdin: Deno.stdin.readable,
    stdout: writeTo(Deno.stdout),
    stderr: writeTo(Deno.stderr),
  });
  if (!Deno.stdin.isTerminal()) {
    const connection = await connectOrThrow(target, options.readyTimeoutMs);
    try {
      return await runChannel(
        connection,
        (callback) => connection.client.exec(SCRIPT_SHELL, shellOptions, callback),
        io(),
      );
    } finally {
      await connection.close();
    }
  }

  const term = options.term ?? Deno.env.get("TERM") ?? "xterm-256color";
  const connection = await connectOrThrow(target, options.readyTimeoutMs);
  let channel: ClientChannel | undefined;
  const onResize = () => {
    const size = terminalSize();
    channel?.setWindow(size.rows, size.columns, 0, 0);
  };
  const watchResize = Deno.build.os !== "windows";
  try {
    if (watchResize) Deno.addSignalListener("SIGWINCH", onResize);
    Deno.stdin.setRaw(true);
    const size = terminalSize();
    const pty = { term, rows: size.rows, cols: size.columns, height: 0, width: 0 };
    return await runChannel(
      connection,
      (callback) => connection.client.shell(pty, shellOptions, callback),
      { ...io(), onChannel: (opened) => channel = opened },
    );
  } finally {
    Deno.stdin.setRaw(false);
    if (watchResize) Deno.removeSignalListener("SIGWINCH", onResize);
    await connection.close();
  }
}

/**
 * Makes one login attempt with the target's key and closes the connection again. Resolves "ok",
 * "refused" (the server rejected the key) or "unreachable" (no connection, no SSH handshake, or a
 * timeout); throws {@linkcode HostKeyMismatch} if the server presents another host key.
 */
export async function trySshLogin(
  target: SshTarget,
  options: { readyTimeoutMs?: number } = {},
): Promise<SshLoginResult> {
  return (await attemptLogin(target, options.readyTimeoutMs ?? PROBE_READY_TIMEOUT_MS)).result;
}

/**
 * Waits until a real key login against the known host key succeeds, trying with a new connection
 * every `intervalMs`. A wrong host key throws {@linkcode HostKeyMismatch} at once; running out of
 * time throws a `StartTimeout` {@linkcode UserError} (exit code 4) naming the last error.
 */
export async function waitForSsh(target: SshTarget, options: WaitForSshOptions): Promise<void> {
  const { signal } = options;
  const intervalMs = options.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  let attempts = 0;
  let lastError = "";
  while (true) {
    signal?.throwIfAborted();
    attempts++;
    const readyTimeoutMs = Math.max(1, Math.min(PROBE_READY_TIMEOUT_MS, deadline - Date.now()));
    const attempt = await attemptLogin(target, readyTimeoutMs, signal);
    if (attempt.result === "ok") return;
    lastError = attempt.error;
    options.onAttempt?.(attempts, lastError);
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    await sleep(Math.min(intervalMs, remaining), signal);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  throw new UserError(
    `Waiting for SSH on ${endpointOf(target)} timed out after ${seconds} s ` +
      `(${attempts} ${attempts === 1 ? "attempt" : "attempts"}); last error: ${lastError}`,
    {
      code: "StartTimeout",
      exitCode: ExitCode.timeout,
      hint: "The guest may still be booting or its SSH server failed to start: " +
        "read the instance's serial log, then start it again with a longer timeout.",
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Connections

/** A logged-in ssh2 client plus the means to close it without leaking its socket. */
interface Connection {
  client: Client;
  /** Settles once the TCP connection has closed. */
  closed: Promise<void>;
  /** Ends the connection and waits for the socket to close. */
  close(): Promise<void>;
}

/** Why a login did not happen (a host key mismatch is thrown as its own error instead). */
class LoginFailure extends Error {
  constructor(readonly result: "refused" | "unreachable", message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "LoginFailure";
  }
}

/** Connects and logs in; rejects with LoginFailure, HostKeyMismatch, UserError or abort reason. */
function connect(
  target: SshTarget,
  readyTimeoutMs: number,
  signal?: AbortSignal,
): Promise<Connection> {
  const expected = publicBlob(target.hostPublicKey, "host public key");
  const identity = parseKeyText(target.privateKey, "private key");
  if (!identity.isPrivateKey()) {
    throw new UserError("Reading the SSH private key failed: the text holds only a public key", {
      code: "InvalidSshKey",
      hint: "The instance's key file is damaged; recreate the instance.",
    });
  }
  signal?.throwIfAborted();

  const endpoint = endpointOf(target);
  const client = new Client();
  let presented: Buffer | undefined;
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  const close = async () => {
    client.end();
    await settleWithin(closed, CLOSE_GRACE_MS, () => client.destroy());
  };

  return new Promise<Connection>((resolve, reject) => {
    let settled = false;
    const finish = () => {
      settled = true;
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      finish();
      client.destroy();
      // Reject only once the socket is gone, so a failed attempt leaves nothing behind.
      void settleWithin(closed, CLOSE_GRACE_MS).then(() => reject(error));
    };
    const onAbort = () => fail(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });

    // ssh2 may emit "error" twice for one failure (socket error, then protocol error): `on`, not
    // `once`, and keep the listener for the client's whole life so no error goes unhandled.
    // Once our verifier has rejected a key, whatever ssh2 reports next is that rejection.
    const mismatch = (actual: Buffer) =>
      new HostKeyMismatch(endpoint, {
        expected: describeKey(expected),
        actual: describeKey(actual),
      });
    client.on("error", (error: Error & { level?: string; code?: string }) => {
      if (presented !== undefined) {
        fail(mismatch(presented));
      } else if (error.level === "client-authentication") {
        fail(new LoginFailure("refused", `the server refused the key for user "${target.user}"`));
      } else {
        const detail = error.code && !error.message.includes(error.code)
          ? `${error.message} (${error.code})`
          : error.message;
        fail(new LoginFailure("unreachable", detail, error));
      }
    });
    client.on("close", () => {
      fail(
        presented !== undefined
          ? mismatch(presented)
          : new LoginFailure("unreachable", "the connection closed before login completed"),
      );
    });
    client.once("ready", () => {
      if (settled) return;
      finish();
      resolve({ client, closed, close });
    });

    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: readyTimeoutMs,
      // Only our key: no password, agent or keyboard-interactive fallbacks.
      authHandler: ["publickey"],
      hostVerifier: (key: Buffer): boolean => {
        if (sameBytes(key, expected)) return true;
        presented = Buffer.from(key);
        return false;
      },
    };
    try {
      client.connect(config);
    } catch (error) {
      fail(new LoginFailure("unreachable", String(error), error));
    }
  });
}

/** {@linkcode connect} for commands: failures become UserErrors a person can act on. */
async function connectOrThrow(target: SshTarget, readyTimeoutMs?: number): Promise<Connection> {
  try {
    return await connect(target, readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
  } catch (error) {
    if (!(error instanceof LoginFailure)) throw error;
    const endpoint = endpointOf(target);
    if (error.result === "refused") {
      throw new UserError(
        `Logging in to ${target.user}@${endpoint} failed: ${error.message}`,
        {
          code: "SshRefused",
          cause: error,
          hint: "The guest may not have applied its cloud-init user-data yet; wait for " +
            "`cubic start` to finish, or check the user's ~/.ssh/authorized_keys from the console.",
        },
      );
    }
    throw new UserError(`Connecting to SSH on ${endpoint} failed: ${error.message}`, {
      code: "SshUnreachable",
      cause: error,
      hint: "Check that the instance is running and has finished booting (`cubic instances`).",
    });
  }
}

/** One login attempt, reporting failures as values; HostKeyMismatch and aborts still throw. */
async function attemptLogin(
  target: SshTarget,
  readyTimeoutMs: number,
  signal?: AbortSignal,
): Promise<{ result: SshLoginResult; error: string }> {
  try {
    const connection = await connect(target, readyTimeoutMs, signal);
    await connection.close();
    return { result: "ok", error: "" };
  } catch (error) {
    if (error instanceof LoginFailure) return { result: error.result, error: error.message };
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// Channels

type OpenChannel = (callback: (error: Error | undefined, channel: ClientChannel) => void) => void;

interface ChannelIo {
  stdin: ReadableStream<Uint8Array> | undefined;
  stdout: (chunk: Uint8Array) => void;
  stderr: (chunk: Uint8Array) => void;
  onChannel?: (channel: ClientChannel) => void;
}

/** Opens a session channel, streams it both ways and resolves with its exit status. */
async function runChannel(connection: Connection, open: OpenChannel, io: ChannelIo) {
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    try {
      open((error, opened) => error ? reject(error) : resolve(opened));
    } catch (error) {
      reject(error); // ssh2 throws synchronously when the socket is already gone
    }
  }).catch((error) => {
    throw new UserError(`Opening an SSH session failed: ${errorMessage(error)}`, {
      code: "SshSession",
      cause: error,
    });
  });
  io.onChannel?.(channel);

  let exitCode: number | undefined;
  let outputError: unknown;
  const deliver = (sink: (chunk: Uint8Array) => void) => (chunk: Uint8Array) => {
    if (outputError !== undefined) return;
    try {
      sink(chunk);
    } catch (error) {
      // E.g. our stdout is a closed pipe: stop the command instead of throwing inside ssh2.
      outputError = error;
      channel.close();
    }
  };
  channel.on("exit", (code: number | null, signal?: string) => {
    exitCode = code ?? signalExitCode(signal);
  });
  channel.on("error", () => {/* reported through exit status or connection loss */});
  channel.on("data", deliver(io.stdout));
  channel.stderr.on("data", deliver(io.stderr));
  const channelClosed = new Promise<void>((resolve) => channel.once("close", () => resolve()));
  const done = Promise.race([channelClosed, connection.closed]);

  let inputError: unknown;
  const pumping = io.stdin === undefined
    ? (channel.end(), Promise.resolve())
    : pump(io.stdin, channel, done).catch((error) => inputError = error);
  await done;
  await pumping;

  if (outputError !== undefined) throw outputError;
  if (inputError !== undefined) throw inputError;
  if (exitCode === undefined) {
    throw new UserError("The SSH connection closed before the remote command reported its exit", {
      code: "SshConnectionLost",
    });
  }
  return exitCode;
}

/** Copies `source` into the channel with backpressure, then sends EOF; stops when `done` does. */
async function pump(
  source: ReadableStream<Uint8Array>,
  channel: ClientChannel,
  done: Promise<void>,
): Promise<void> {
  const reader = source.getReader();
  let stopped = false;
  const stop = done.then(() => {
    stopped = true;
    // Cancelling lets a pending read settle now (for Deno.stdin the OS read itself lingers).
    reader.cancel().catch(() => {});
  });
  try {
    while (!stopped) {
      const { value, done: eof } = await reader.read();
      if (eof || stopped) break;
      const chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      if (!channel.write(chunk)) {
        await Promise.race([new Promise((resolve) => channel.once("drain", resolve)), stop]);
      }
    }
  } finally {
    // EOF tells the remote side its input is complete (also after a failed read).
    if (!stopped) channel.end();
    reader.releaseLock();
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function resolveStdin(stdin: SshStdin): ReadableStream<Uint8Array> | undefined {
  if (stdin === "null") return undefined;
  if (stdin === "inherit") return Deno.stdin.readable;
  return stdin;
}

/** A sink that writes each chunk completely and synchronously, preserving output order. */
function writeTo(file: { writeSync(data: Uint8Array): number }): (chunk: Uint8Array) => void {
  return (chunk) => {
    let written = 0;
    while (written < chunk.length) written += file.writeSync(chunk.subarray(written));
  };
}

function terminalSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}

/** Exit status for a command killed by `signal` ("SIGTERM" or "TERM"): 128 + number, else 255. */
function signalExitCode(signal: string | undefined): number {
  const name = (signal ?? "").replace(/^SIG/, "");
  const number = SIGNAL_NUMBERS[name];
  return number === undefined ? 255 : 128 + number;
}

function parseKeyText(text: string, what: string): ParsedKey {
  const parsed: ParsedKey | ParsedKey[] | Error = utils.parseKey(text);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error) {
    const reason = key instanceof Error ? key.message : "no key found";
    throw new UserError(`Reading the SSH ${what} failed: ${reason}`, {
      code: "InvalidSshKey",
      cause: key,
      hint: "The instance's key files are damaged; recreate the instance.",
    });
  }
  return key;
}

/** The key's SSH wire-format blob, the same bytes a server sends as its host key. */
function publicBlob(text: string, what: string): Buffer {
  return parseKeyText(text, what).getPublicSSH();
}

function blobFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** `ssh-ed25519 SHA256:…` for messages: the algorithm name from the blob, then the fingerprint. */
function describeKey(blob: Buffer): string {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  const type = length > 0 && 4 + length <= blob.length
    ? blob.subarray(4, 4 + length).toString("latin1")
    : "unknown";
  return `${type} ${blobFingerprint(blob)}`;
}

/** Constant-time equality; the length of a public key is not secret. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function endpointOf(target: SshTarget): string {
  return target.host.includes(":")
    ? `[${target.host}]:${target.port}`
    : `${target.host}:${target.port}`;
}

/** Waits for `promise` at most `ms`; on timeout runs `onTimeout` and resolves anyway. */
async function settleWithin(promise: Promise<void>, ms: number, onTimeout?: () => void) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), ms));
  try {
    if (await Promise.race([promise.then(() => false), timedOut])) onTimeout?.();
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
