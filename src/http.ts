/**
 * HTTP for mirrors: status checked, stalled transfers timed out (not slow ones), transient
 * failures retried with exponential backoff, a recognisable User-Agent, small documents (listings,
 * checksum files, signatures) capped in size (a listing is never worth gigabytes of memory) and in
 * time ({@linkcode SMALL_FETCH_DEADLINE_MS}: a mirror dripping a byte a second never ends a
 * stall timeout, but it does end this deadline). Redirects are followed to http(s) URLs only and
 * never from https down to http; any other redirect, or a loop, is a {@linkcode RedirectError},
 * never retried.
 *
 * Mirror credentials (`http://user:secret@host/`) are used, never shown: a mirror's base URL
 * gives its userinfo to {@linkcode rememberCredentials}, every URL built from it is
 * credential-free (so nothing Cubic prints, logs or stores carries the password), and
 * {@linkcode fetchChecked} sends `Authorization: Basic` for requests under it. Messages quote
 * URLs through {@linkcode redactUrl} in case one still carries userinfo.
 *
 * Environment (read by {@linkcode transferSettings}):
 *   CUBIC_STALL_TIMEOUT_MS  give up on a transfer after this long without a byte (default 30000)
 *   CUBIC_RETRY_DELAY_MS    first backoff delay before a retry, doubled each time (default 1000)
 */
import { errorMessage, UserError } from "./errors.ts";

/** The response had an unexpected HTTP status. */
export class HttpError extends UserError {
  readonly status: number;
  readonly url: string;
  /** `HTTP 503 Service Unavailable`: the failure without the URL. */
  readonly reason: string;
  constructor(url: string, status: number, statusText: string) {
    const reason = `HTTP ${status} ${statusText}`.trim();
    super(`Fetching '${redactUrl(url)}' failed: ${reason}`, {
      code: "HttpError",
      hint: status === 404
        ? "The mirror does not have it; check the image name with `cubic images` and the mirror URL"
        : status === 401 || status === 403
        ? "The mirror refused the credentials: put the right ones in its URL (CUBIC_MIRROR_<VENDOR>=https://user:password@host/...)"
        : "The mirror answered with an error; try again later or use another mirror",
    });
    this.status = status;
    this.url = redactUrl(url);
    this.reason = reason;
  }

  /** Whether trying again later may succeed: server errors, 408 and 429. */
  get transient(): boolean {
    return this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

/** Nothing answered, the connection broke, or the transfer stalled. */
export class NetworkError extends UserError {
  readonly url: string;
  /** What went wrong, without the URL: `connection refused`, `no data for 30 s` ... */
  readonly reason: string;
  /** False when the request never got a response (refused, unreachable, no headers in time). */
  readonly answered: boolean;
  constructor(url: string, reason: string, options: { answered: boolean; cause?: unknown }) {
    super(`Fetching '${redactUrl(url)}' failed: ${redactUrls(reason)}`, {
      cause: options.cause,
      code: "NetworkError",
      hint: "Check the network, or point Cubic at a reachable mirror with CUBIC_MIRROR_<VENDOR>",
    });
    this.url = redactUrl(url);
    this.reason = redactUrls(reason);
    this.answered = options.answered;
  }
}

/** A listing, checksum file or signature was larger than {@linkcode fetchBytes} accepts. */
export class ResponseTooLarge extends UserError {
  readonly url: string;
  /** The cap that was exceeded, in bytes. */
  readonly limit: number;
  constructor(url: string, limit: number) {
    super(`Fetching '${redactUrl(url)}' failed: the response is larger than ${sizeText(limit)}`, {
      code: "ResponseTooLarge",
      hint:
        "A listing or checksum file is never that big: the mirror URL is wrong or the mirror misbehaves; check CUBIC_MIRROR_<VENDOR> or use another mirror",
    });
    this.url = redactUrl(url);
    this.limit = limit;
  }
}

/** A small document (listing, checksum file, signature) did not arrive within its deadline. */
export class DeadlineExceeded extends UserError {
  readonly url: string;
  /** What went wrong, without the URL. */
  readonly reason: string;
  constructor(url: string, deadlineMs: number, cause?: unknown) {
    const reason = `it did not arrive within ${
      formatSeconds(deadlineMs)
    } (the mirror sends too slowly)`;
    super(
      `Fetching '${redactUrl(url)}' failed: ${reason}`,
      {
        cause,
        code: "DeadlineExceeded",
        hint:
          "Listings, checksum files and signatures are small and arrive in seconds from a healthy mirror; try again later or use another mirror with CUBIC_MIRROR_<VENDOR>",
      },
    );
    this.url = redactUrl(url);
    this.reason = reason;
  }
}

/**
 * The server redirected to a URL that is not http(s), from https to plain http, or in a loop:
 * retrying cannot help.
 */
export class RedirectError extends UserError {
  readonly url: string;
  /** What went wrong, without the URL. */
  readonly reason: string;
  constructor(url: string, reason: string, cause?: unknown) {
    super(`Fetching '${redactUrl(url)}' failed: ${reason}`, {
      cause,
      code: "RedirectError",
      hint:
        "The mirror's redirects lead nowhere Cubic can download from; check the mirror URL (CUBIC_MIRROR_<VENDOR>) or use another mirror",
    });
    this.url = redactUrl(url);
    this.reason = reason;
  }
}

/** `1 MiB`, or `1000 bytes` when not a whole number of MiB (pure). */
function sizeText(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${bytes} bytes`;
}

/**
 * `http://user:***@host/`: `url` with its password hidden (a lone user name, which may be a
 * token, becomes `***`), also when it does not parse; other URLs are returned unchanged (pure).
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username !== "" || parsed.password !== "") {
      if (parsed.password !== "") parsed.password = "***";
      else parsed.username = "***";
      return parsed.href;
    }
  } catch {
    // Not a URL (a typo in CUBIC_MIRROR_*): redact by its shape below.
  }
  return url.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)?([^\s/?#@]*)@/i,
    (_all, scheme: string | undefined, userinfo: string) =>
      `${scheme ?? ""}${hideUserinfo(userinfo)}@`,
  );
}

/** `text` with the userinfo of every `scheme://user:pass@` in it hidden (pure). */
export function redactUrls(text: string): string {
  return text.replace(
    /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@'"]*)@/gi,
    (_all, scheme: string, userinfo: string) => `${scheme}${hideUserinfo(userinfo)}@`,
  );
}

function hideUserinfo(userinfo: string): string {
  const colon = userinfo.indexOf(":");
  return colon < 0 ? "***" : `${userinfo.slice(0, colon)}:***`;
}

/** `Authorization` values by the credential-free URL prefix they are sent under. */
const credentials = new Map<string, string>();

/**
 * Takes the userinfo out of a mirror's base URL: returns the URL without it, and remembers the
 * credentials so that {@linkcode fetchChecked} sends them with every request under that URL.
 * A URL without userinfo is returned unchanged.
 */
export function rememberCredentials(url: string): string {
  const split = splitCredentials(url);
  if (split.authorization !== undefined) credentials.set(split.url, split.authorization);
  return split.url;
}

/** `url` without userinfo, and the `Authorization: Basic` value its userinfo stands for. */
function splitCredentials(url: string): { url: string; authorization: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, authorization: undefined };
  }
  if (parsed.username === "" && parsed.password === "") return { url, authorization: undefined };
  const pair = `${percentDecoded(parsed.username)}:${percentDecoded(parsed.password)}`;
  parsed.username = "";
  parsed.password = "";
  const bytes = new TextEncoder().encode(pair);
  const authorization = `Basic ${btoa(String.fromCharCode(...bytes))}`;
  return { url: parsed.href, authorization };
}

/** `p%40ss` → `p@ss`; a stray `%` that starts no escape stays as it is. */
function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The URL to request and the credentials to send: its own userinfo, or a remembered prefix's. */
function authorize(url: string): { url: string; authorization: string | undefined } {
  const split = splitCredentials(url);
  if (split.authorization !== undefined) return split;
  let best: [string, string] | undefined;
  for (const [prefix, authorization] of credentials) {
    if (url.startsWith(prefix) && (best === undefined || prefix.length > best[0].length)) {
      best = [prefix, authorization];
    }
  }
  return { url, authorization: best?.[1] };
}

/** Cubic's User-Agent header. */
export const USER_AGENT = "cubic/0.1 (+https://github.com/cubic-vm)";

/** How long transfers may stall and how often they are retried. */
export interface TransferSettings {
  /** A transfer that receives nothing (headers or body bytes) for this long fails. */
  stallTimeoutMs: number;
  /** Tries in all, the first included. */
  attempts: number;
  /** Delay before the first retry; doubles for each further one. */
  retryDelayMs: number;
}

/** The defaults: 30 s stall timeout, 4 attempts, 1 s / 2 s / 4 s backoff. */
export const DEFAULT_TRANSFER_SETTINGS: Readonly<TransferSettings> = {
  stallTimeoutMs: 30_000,
  attempts: 4,
  retryDelayMs: 1_000,
};

/**
 * Transfer settings with `CUBIC_STALL_TIMEOUT_MS` (a positive whole number: a stall timeout of 0
 * would fail every transfer) and `CUBIC_RETRY_DELAY_MS` (0 retries at once) applied (pure).
 */
export function transferSettings(env: Record<string, string | undefined>): TransferSettings {
  const read = (name: string, fallback: number, options: { positive: boolean }): number => {
    const text = env[name];
    if (text === undefined || text === "") return fallback;
    const value = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || (options.positive && value === 0)) {
      throw new UserError(
        `Reading ${name} failed: '${text}' is not a ${
          options.positive ? "positive " : ""
        }whole number of milliseconds`,
        { code: "InvalidEnvironment", hint: `Unset ${name} or set it to e.g. ${fallback}` },
      );
    }
    return value;
  };
  return {
    stallTimeoutMs: read("CUBIC_STALL_TIMEOUT_MS", DEFAULT_TRANSFER_SETTINGS.stallTimeoutMs, {
      positive: true,
    }),
    attempts: DEFAULT_TRANSFER_SETTINGS.attempts,
    retryDelayMs: read("CUBIC_RETRY_DELAY_MS", DEFAULT_TRANSFER_SETTINGS.retryDelayMs, {
      positive: false,
    }),
  };
}

/** Options for {@linkcode fetchChecked}. */
export interface FetchOptions extends RequestInit {
  /** Caps the whole exchange, body included (no cap by default: big images take long). */
  timeoutMs?: number;
  /** Fails when no headers or body bytes arrive for this long; default from the environment. */
  stallTimeoutMs?: number;
}

/**
 * Fetches `url` and checks for a 2xx status. Network failures, including a stall while the body
 * is read, become a {@linkcode NetworkError}; other statuses an {@linkcode HttpError}.
 */
export async function fetchChecked(url: string, init: FetchOptions = {}): Promise<Response> {
  const { timeoutMs, stallTimeoutMs, ...rest } = init;
  const stallMs = stallTimeoutMs ?? transferSettings(Deno.env.toObject()).stallTimeoutMs;
  const target = authorize(url);
  const headers = new Headers(rest.headers);
  headers.set("user-agent", USER_AGENT);
  if (target.authorization !== undefined && !headers.has("authorization")) {
    headers.set("authorization", target.authorization);
  }
  const watchdog = new Watchdog(stallMs);
  const signals = [watchdog.signal];
  if (rest.signal) signals.push(rest.signal);
  if (timeoutMs !== undefined) signals.push(AbortSignal.timeout(timeoutMs));
  let response: Response;
  try {
    response = await fetch(target.url, { ...rest, headers, signal: AbortSignal.any(signals) });
  } catch (cause) {
    watchdog.stop();
    const redirect = redirectFailure(cause);
    if (redirect !== undefined) throw new RedirectError(url, redirect, cause);
    throw new NetworkError(url, describe(cause, watchdog), { answered: false, cause });
  }
  if (new URL(target.url).protocol === "https:" && response.url.startsWith("http:")) {
    // Whatever came over plain http is discarded: for a vendor that signs nothing, https is all
    // that protects the checksum file.
    watchdog.stop();
    await response.body?.cancel().catch(() => {});
    throw new RedirectError(
      url,
      `the server redirects from https to plain http (${
        redactUrl(response.url)
      }), which Cubic refuses`,
    );
  }
  if (!response.ok) {
    watchdog.stop();
    await response.body?.cancel().catch(() => {});
    throw new HttpError(url, response.status, response.statusText);
  }
  if (response.body === null) {
    watchdog.stop();
    return response;
  }
  watchdog.kick();
  const watched = new Response(watchBody(response.body, url, watchdog), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  Object.defineProperty(watched, "url", { value: response.url });
  return watched;
}

/** The largest document {@linkcode fetchBytes} reads by default: 32 MiB (real listings are < 1 MiB). */
export const MAX_TEXT_BYTES = 32 * 1024 * 1024;

/**
 * How long {@linkcode fetchBytes} may take in all, retries included: 120 s. Listings, checksum
 * files and signatures are small; without a deadline a mirror sending a byte a second would hold
 * Cubic forever, since each byte resets the stall timeout.
 */
export const SMALL_FETCH_DEADLINE_MS = 120_000;

/** Options for {@linkcode fetchBytes} and {@linkcode fetchText}. */
export interface FetchBytesOptions {
  /** Stall timeout and retry policy; defaults from the environment. */
  transfer?: Partial<TransferSettings>;
  /** A longer response fails with {@linkcode ResponseTooLarge}; default {@linkcode MAX_TEXT_BYTES}. */
  maxBytes?: number;
  /**
   * The whole fetch, retries included, fails with {@linkcode DeadlineExceeded} after this long;
   * default {@linkcode SMALL_FETCH_DEADLINE_MS}.
   */
  deadlineMs?: number;
}

/** Options for {@linkcode fetchText}. */
export type FetchTextOptions = FetchBytesOptions;

/**
 * Fetches a small document (listing, checksum file, signature) as the exact bytes received.
 * Server errors, 408/429 and transfers that break or stall after the server answered are
 * retried; a mirror that does not answer at all fails at once, so callers can fall back to the
 * cache quickly. Capped in size and, retries included, in time.
 */
export async function fetchBytes(
  url: string,
  options: FetchBytesOptions = {},
): Promise<Uint8Array> {
  const settings = { ...transferSettings(Deno.env.toObject()), ...options.transfer };
  const deadlineMs = options.deadlineMs ?? SMALL_FETCH_DEADLINE_MS;
  const deadline = AbortSignal.timeout(deadlineMs);
  try {
    return await retrying(async () => {
      const response = await fetchChecked(url, {
        stallTimeoutMs: settings.stallTimeoutMs,
        signal: deadline,
      });
      return await readCapped(response, url, options.maxBytes ?? MAX_TEXT_BYTES);
    }, {
      attempts: settings.attempts,
      retryDelayMs: settings.retryDelayMs,
      retryable: (error) =>
        !deadline.aborted && (
          (error instanceof NetworkError && error.answered) ||
          (error instanceof HttpError && error.transient)
        ),
    });
  } catch (error) {
    if (deadline.aborted && error instanceof NetworkError) {
      throw new DeadlineExceeded(url, deadlineMs, error);
    }
    throw error;
  }
}

/**
 * Fetches a text document (listing, checksum file) as UTF-8 text; see {@linkcode fetchBytes}
 * for retries and limits.
 */
export async function fetchText(url: string, options: FetchTextOptions = {}): Promise<string> {
  return new TextDecoder().decode(await fetchBytes(url, options));
}

/** The body's bytes, read in chunks and abandoned as soon as they exceed `limit`. */
async function readCapped(response: Response, url: string, limit: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > limit) {
    await response.body?.cancel().catch(() => {});
    throw new ResponseTooLarge(url, limit);
  }
  if (response.body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new ResponseTooLarge(url, limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/** Whether a failed transfer is worth retrying: network failures, 5xx, 408 and 429. */
export function isTransient(error: unknown): boolean {
  return error instanceof NetworkError || (error instanceof HttpError && error.transient);
}

/** What {@linkcode retrying} tells its `onRetry` hook before it waits. */
export interface RetryInfo {
  /** The attempt that failed, from 1. */
  attempt: number;
  attempts: number;
  delayMs: number;
  error: unknown;
}

/** Options for {@linkcode retrying}. */
export interface RetryOptions {
  attempts: number;
  retryDelayMs: number;
  /** Which errors are worth another attempt; others are thrown at once. */
  retryable: (error: unknown) => boolean;
  onRetry?: (info: RetryInfo) => void;
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not retryable, or has been tried
 * `attempts` times; waits `retryDelayMs`, then twice that, and so on (plus up to 25 % jitter, so
 * processes that failed together do not retry in lockstep). Throws the last error.
 */
export async function retrying<T>(
  attempt: (n: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let n = 1;; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (n >= options.attempts || !options.retryable(error)) throw error;
      const base = options.retryDelayMs * 2 ** (n - 1);
      const delayMs = Math.round(base * (1 + Math.random() / 4));
      options.onRetry?.({ attempt: n, attempts: options.attempts, delayMs, error });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** Thrown into a fetch as the abort reason when nothing arrived for the stall timeout. */
class Stalled extends Error {
  constructor(readonly ms: number) {
    super(`no data for ${formatSeconds(ms)} (the transfer stalled)`);
  }
}

/** Aborts when it is not kicked for `ms`; its timer never keeps the process alive alone. */
class Watchdog {
  readonly #controller = new AbortController();
  readonly #ms: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  constructor(ms: number) {
    this.#ms = ms;
    this.kick();
  }
  get signal(): AbortSignal {
    return this.#controller.signal;
  }
  get fired(): boolean {
    return this.#controller.signal.reason instanceof Stalled;
  }
  kick(): void {
    clearTimeout(this.#timer);
    const timer = setTimeout(() => this.#controller.abort(new Stalled(this.#ms)), this.#ms);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The body, kicking the watchdog per chunk; a broken or stalled read becomes a NetworkError. */
function watchBody(
  body: ReadableStream<Uint8Array>,
  url: string,
  watchdog: Watchdog,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          watchdog.stop();
          controller.close();
          return;
        }
        watchdog.kick();
        controller.enqueue(value);
      } catch (cause) {
        watchdog.stop();
        controller.error(
          new NetworkError(url, describe(cause, watchdog), { answered: true, cause }),
        );
      }
    },
    async cancel(reason) {
      watchdog.stop();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** Why a fetch that followed redirects failed, when a redirect was the reason. */
function redirectFailure(error: unknown): string | undefined {
  const message = errorMessage(error);
  if (/redirect to a non HTTP\(s\)/i.test(message)) {
    return "the server redirects to a URL that is not http or https, which Cubic does not follow";
  }
  const loop = /maximum number of redirects \((\d+)\)/i.exec(message);
  if (loop) return `the server redirects more than ${loop[1]} times (a redirect loop)`;
  return undefined;
}

function describe(error: unknown, watchdog: Watchdog): string {
  if (watchdog.fired) return (watchdog.signal.reason as Stalled).message;
  if (error instanceof DOMException && error.name === "TimeoutError") return "timed out";
  if (error instanceof Stalled) return error.message;
  const message = errorMessage(error);
  // Deno says "fetch failed" and hides the interesting part in the cause.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : "";
  const text = `${message} ${cause}`;
  if (/connection refused|os error 111/i.test(text)) return "connection refused";
  if (/closed before message completed/i.test(text)) {
    return "the server closed the connection without answering";
  }
  if (/reading a body|connection reset|os error 104|unexpected eof|incomplete/i.test(text)) {
    return "the connection broke mid-transfer";
  }
  return cause && !message.includes(cause) ? `${message} (${cause})` : message;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
