/**
 * A FetchText over the vendor mirror fixtures: a URL under `base` maps to a file under `root`,
 * a directory URL to its `index.html`; anything absent is a 404, like the real mirror.
 */
import { join } from "node:path";
import { HttpError } from "../../src/http.ts";
import type { FetchText } from "../../src/provider.ts";

/** Directory of the copied vendor fixtures. */
export const FIXTURES = new URL("../fixtures/mirrors/", import.meta.url).pathname;

/** A fetcher serving `root` (a fixture directory) as if it were `base`. */
export function fixtureFetcher(base: string, root: string): FetchText & { requests: string[] } {
  const requests: string[] = [];
  const fetcher = async (url: string) => {
    requests.push(url);
    if (!url.startsWith(base)) throw new HttpError(url, 404, "Not Found");
    const rel = decodeURIComponent(url.slice(base.length));
    const path = join(root, rel, rel === "" || rel.endsWith("/") ? "index.html" : "");
    try {
      return await Deno.readTextFile(path);
    } catch {
      throw new HttpError(url, 404, "Not Found");
    }
  };
  return Object.assign(fetcher, { requests });
}
