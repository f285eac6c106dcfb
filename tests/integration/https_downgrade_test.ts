/**
 * A mirror reached over https that redirects to plain http: for a vendor that signs nothing,
 * https is all that protects the checksum file, so the downgrade is refused (and never retried)
 * while an https → https redirect to another host, as mirror networks do, is followed. A real
 * TLS server on 127.0.0.1 with a throwaway CA, trusted by this process only.
 */
import { generateTlsMaterial } from "../../src/ca.ts";
import { fetchChecked, type FetchOptions, isTransient, RedirectError } from "../../src/http.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "../support/assert.ts";

const tls = generateTlsMaterial({ commonName: "https-downgrade-test" });

/** An https server that redirects `/to-http` and `/to-https` and serves `/file`. */
function startRedirectingServer(httpUrl: string) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, cert: tls.serverCert, key: tls.serverKey, onListen() {} },
    (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/to-http") {
        return new Response(null, { status: 301, headers: { location: `${httpUrl}/file` } });
      }
      if (path === "/to-https") {
        return new Response(null, { status: 302, headers: { location: "/file" } });
      }
      return new Response("served over https\n");
    },
  );
  return { url: `https://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

/** Fetch options that trust the test CA (Deno's fetch takes a `client`; RequestInit does not say so). */
function trusting(client: Deno.HttpClient): FetchOptions {
  return { client } as FetchOptions;
}

async function withServers(
  fn: (https: string, httpRequests: () => number, client: Deno.HttpClient) => Promise<void>,
) {
  let requests = 0;
  const plain = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response("served over plain http\n");
  });
  const secure = startRedirectingServer(`http://127.0.0.1:${plain.addr.port}`);
  const client = Deno.createHttpClient({ caCerts: [tls.caCert] });
  try {
    await fn(secure.url, () => requests, client);
  } finally {
    client.close();
    await secure.close();
    await plain.shutdown();
  }
}

Deno.test("refuses an https mirror's redirect down to plain http as a RedirectError (not transient, so never retried)", async () => {
  await withServers(async (https, httpRequests, client) => {
    const error = await assertRejects<RedirectError>(
      () => fetchChecked(`${https}/to-http`, trusting(client)),
      RedirectError,
    );
    assertMatch(
      error.message,
      /^Fetching 'https:\/\/127\.0\.0\.1:\d+\/to-http' failed: the server redirects from https to plain http \(http:\/\/127\.0\.0\.1:\d+\/file\), which Cubic refuses$/,
    );
    assertEquals(error.code, "RedirectError");
    assert(!isTransient(error));
    assertEquals(httpRequests(), 1);
  });
});

Deno.test("follows an https mirror's redirect to another https URL", async () => {
  await withServers(async (https, httpRequests, client) => {
    const response = await fetchChecked(`${https}/to-https`, trusting(client));
    assertEquals(await response.text(), "served over https\n");
    assertEquals(response.url, `${https}/file`);
    assertEquals(httpRequests(), 0);
  });
});
