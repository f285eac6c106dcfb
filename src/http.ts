/**
 * HTTP for mirrors: status checked, stalls timed out, a recognisable User-Agent.
 */
import { UserError } from "./errors.ts";

/** The response had an unexpected HTTP status. */
export class HttpError extends UserError {
  readonly status: number;
  readonly url: string;
  constructor(url: string, status: number, statusText: string) {
    super(`Fetching '${url}' failed: HTTP ${status} ${statusText}`.trim(), {
      code: "HttpError",
      hint: status === 404
        ? "The mirror does not have it; check the image name with `cubic images` and the mirror URL"
        : "The mirror answered with an error; try again later or use another mirror",
    });
    this.status = status;
    this.url = url;
  }
}

/** Cubic's User-Agent header. */
export const USER_AGENT = "cubic/0.1 (+https://github.com/cubic-vm)";

/** Fetches `url` and checks for a 2xx status; network failures become a UserError. */
export async function fetchChecked(
  url: string,
  init: RequestInit & { timeoutMs?: number } = {},
): Promise<Response> {
  const { timeoutMs = 30_000, ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set("user-agent", USER_AGENT);
  let response: Response;
  try {
    response = await fetch(url, {
      ...rest,
      headers,
      signal: rest.signal ?? AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    throw new UserError(`Fetching '${url}' failed: ${describe(cause)}`, {
      cause,
      code: "NetworkError",
      hint: "Check the network, or point Cubic at a reachable mirror with CUBIC_MIRROR_<VENDOR>",
    });
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new HttpError(url, response.status, response.statusText);
  }
  return response;
}

/** Fetches a text document (listing, checksum file). */
export async function fetchText(url: string): Promise<string> {
  const response = await fetchChecked(url);
  return await response.text();
}

function describe(error: unknown): string {
  if (error instanceof DOMException && error.name === "TimeoutError") return "timed out";
  return error instanceof Error ? error.message : String(error);
}
