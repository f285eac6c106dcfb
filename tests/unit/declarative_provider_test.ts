import { assertEquals, assertThrows } from "../support/assert.ts";
import { parseProviderFile } from "../../src/declarative_provider.ts";
import { UserError } from "../../src/errors.ts";
import { HttpError } from "../../src/http.ts";

const BASE = "https://mirror.example/tinyos/";

function provider(overrides: Record<string, string> = {}) {
  const fields: Record<string, string> = {
    id: "tinyos",
    base_url: BASE,
    release_pattern: "'^(.+)$'",
    directory: '"{release}/{arch}/"',
    image_pattern: "'tinyos-.*\\.qcow2'",
    checksum_file: "SHA256SUMS",
    arches: "{ amd64: x86_64 }",
    ...overrides,
  };
  const text = Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join("\n");
  return parseProviderFile(text, "/cfg/providers/tinyos.yaml");
}

/** A mirror of listings only: URL → hrefs; anything else is a 404. */
function listings(pages: Record<string, string[]>) {
  const requests: string[] = [];
  const fetchText = (url: string) => {
    requests.push(url);
    const hrefs = pages[url];
    if (hrefs === undefined) return Promise.reject(new HttpError(url, 404, "Not Found"));
    return Promise.resolve(hrefs.map((h) => `<a href="${h}">${h}</a>`).join("\n"));
  };
  return { baseUrl: BASE, fetchText, requests };
}

Deno.test("a provider file's path templates are normalised into the URLs it resolves", async () => {
  const p = provider({
    directory: '"./{release}//{arch}"',
    checksum_file: "./sums//SHA256SUMS",
  });
  const ctx = listings({
    [BASE]: ["1.2/"],
    [`${BASE}1.2/x86_64/`]: ["tinyos-1.2.qcow2"],
  });
  const ref = await p.resolve(ctx, "1.2", "amd64");
  assertEquals(ref?.imageUrl, `${BASE}1.2/x86_64/tinyos-1.2.qcow2`);
  assertEquals(ref?.checksumUrl, `${BASE}1.2/x86_64/sums/SHA256SUMS`);
});

Deno.test("a release name from the mirror's listing cannot lead the provider out of base_url", async () => {
  const p = provider();
  const ctx = listings({ [BASE]: ["%2e%2e/", "./"] });
  assertEquals(await p.resolve(ctx, "%2e%2e", "amd64"), undefined);
  assertEquals(ctx.requests.filter((u) => !u.startsWith(BASE)), []);
  assertEquals(ctx.requests.some((u) => u.includes("%2e")), false);
});

Deno.test("a provider file's fixed release names and arch spellings must be plain names", () => {
  for (
    const overrides of [
      { releases: '[{ names: [".."] }]' },
      { releases: '[{ names: ["1/../../x"] }]' },
      { arches: '{ amd64: "../x86_64" }' },
    ]
  ) {
    const error = assertThrows<UserError>(() => provider(overrides), UserError);
    assertEquals(error.code, "InvalidProviderFile");
  }
});
