import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type MirrorServer, startMirrorServer } from "./support/mirror_server.ts";
import { layoutDebianMirror } from "./support/debian_mirror.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/mirrors/debian", import.meta.url));

/** A temp dir holding `root/` (what is served) and `outside.txt` (what must never be). */
async function withMirror(
  files: Record<string, string | Uint8Array>,
  fn: (server: MirrorServer, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-mirror-test-" });
  try {
    const root = join(dir, "root");
    await Deno.mkdir(root);
    await Deno.writeTextFile(join(dir, "outside.txt"), "SECRET outside the root\n");
    for (const [path, content] of Object.entries(files)) {
      const full = join(root, path);
      await Deno.mkdir(join(full, ".."), { recursive: true });
      if (typeof content === "string") await Deno.writeTextFile(full, content);
      else await Deno.writeFile(full, content);
    }
    const server = await startMirrorServer(root);
    try {
      await fn(server, dir);
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Sends one raw request line, so no client library normalises the path first. */
async function rawGet(port: number, target: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    return await new Response(conn.readable).text();
  } catch (error) {
    conn.close();
    throw error;
  }
}

function bytes(count: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => (i * 7 + 3) % 256);
}

Deno.test("serves a file with its exact bytes and Content-Length", async () => {
  const content = bytes(300_000);
  await withMirror({ "a/blob.bin": content }, async (server) => {
    const response = await fetch(`${server.url}/a/blob.bin`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), "300000");
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), content);
  });
});

Deno.test("answers HEAD with the Content-Length and no body", async () => {
  await withMirror({ "file.txt": "hello\n" }, async (server) => {
    const response = await fetch(`${server.url}/file.txt`, { method: "HEAD" });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-length"), "6");
    assert.equal(await response.text(), "");
  });
});

Deno.test("answers 404 for a path that does not exist", async () => {
  await withMirror({ "here.txt": "x" }, async (server) => {
    for (const path of ["/missing.txt", "/here.txt/", "/no/such/dir/"]) {
      const response = await fetch(`${server.url}${path}`);
      await response.body?.cancel();
      assert.equal(response.status, 404, path);
    }
  });
});

Deno.test("refuses '..' traversal to files outside the root", async () => {
  await withMirror({ "inside.txt": "inside" }, async (server) => {
    for (const path of ["/..%2foutside.txt", "/a/..%2F..%2Foutside.txt", "/%2e%2e%2foutside.txt"]) {
      const response = await fetch(`${server.url}${path}`);
      const body = await response.text();
      assert.equal(response.status, 400, path);
      assert.ok(!body.includes("SECRET"), path);
    }
    // A literal "/../" never reaches the file system unresolved: it is folded into the root.
    const raw = await rawGet(server.port, "/../outside.txt");
    assert.match(raw, /^HTTP\/1\.1 404/);
    assert.ok(!raw.includes("SECRET"));
  });
});

Deno.test("lists a directory with an href for each file and subdirectory", async () => {
  await withMirror(
    { "d/SHA512SUMS": bytes(6144), "d/small.json": bytes(833), "d/sub/x": "x", "d/.hidden": "" },
    async (server) => {
      const response = await fetch(`${server.url}/d/`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/html/);
      const html = await response.text();
      assert.ok(html.includes(`<a href="sub/">sub/</a>`), html);
      assert.ok(html.includes(`<a href="SHA512SUMS">SHA512SUMS</a>`), html);
      assert.ok(html.includes(`<a href="small.json">small.json</a>`), html);
      assert.ok(html.includes(`<a href="/">Parent Directory</a>`), html);
      assert.ok(html.includes(`<td class="indexcolsize">6.0K</td>`), html);
      assert.ok(html.includes(`<td class="indexcolsize">833 </td>`), html);
      assert.ok(!html.includes(".hidden"), "dot files are not listed");
      assert.ok(html.includes(`<h1 id="indextitle">Index of /d</h1>`), html);
      // Byte order, as Apache sorts: upper case before lower case.
      assert.ok(html.indexOf("SHA512SUMS") < html.indexOf("small.json"));
    },
  );
});

Deno.test("redirects a directory URL without a trailing slash with 301", async () => {
  await withMirror({ "images/cloud/x.txt": "x" }, async (server) => {
    const response = await fetch(`${server.url}/images/cloud`, { redirect: "manual" });
    await response.body?.cancel();
    assert.equal(response.status, 301);
    assert.equal(response.headers.get("location"), "/images/cloud/");
  });
});

Deno.test("serves a directory's own index.html instead of a generated listing", async () => {
  const server = await startMirrorServer(FIXTURES);
  try {
    const expected = await Deno.readTextFile(
      join(FIXTURES, "images/cloud/bookworm/latest/index.html"),
    );
    const response = await fetch(`${server.url}/images/cloud/bookworm/latest/`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), expected);
  } finally {
    await server.close();
  }
});

Deno.test("serves a byte range with 206 and Content-Range", async () => {
  const content = bytes(1000);
  await withMirror({ "blob.bin": content }, async (server) => {
    const tail = await fetch(`${server.url}/blob.bin`, { headers: { range: "bytes=600-" } });
    assert.equal(tail.status, 206);
    assert.equal(tail.headers.get("content-range"), "bytes 600-999/1000");
    assert.equal(tail.headers.get("content-length"), "400");
    assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), content.subarray(600));

    const middle = await fetch(`${server.url}/blob.bin`, { headers: { range: "bytes=10-19" } });
    assert.equal(middle.status, 206);
    assert.deepEqual(new Uint8Array(await middle.arrayBuffer()), content.subarray(10, 20));
  });
});

Deno.test("answers 416 for a range that starts past the end", async () => {
  await withMirror({ "blob.bin": bytes(10) }, async (server) => {
    const response = await fetch(`${server.url}/blob.bin`, { headers: { range: "bytes=10-" } });
    await response.body?.cancel();
    assert.equal(response.status, 416);
    assert.equal(response.headers.get("content-range"), "bytes */10");
  });
});

Deno.test("follows a symlink to a file kept outside the root", async () => {
  await withMirror({}, async (server, dir) => {
    await Deno.symlink(join(dir, "outside.txt"), join(dir, "root", "linked.txt"));
    const response = await fetch(`${server.url}/linked.txt`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "SECRET outside the root\n");
  });
});

Deno.test("records the path of every request in order", async () => {
  await withMirror({ "a.txt": "a" }, async (server) => {
    for (const path of ["/a.txt", "/missing", "/"]) await (await fetch(server.url + path)).text();
    assert.deepEqual(server.requests, ["/a.txt", "/missing", "/"]);
  });
});

Deno.test("layoutDebianMirror writes a SHA512SUMS whose image line matches sha512sum", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cubic-debian-mirror-test-" });
  try {
    const image = join(dir, "built.qcow2");
    await Deno.writeFile(image, bytes(200_000));
    const root = join(dir, "mirror");
    const layout = await layoutDebianMirror(image, root);

    const latest = join(root, "images/cloud/bookworm/latest");
    const published = join(latest, "debian-12-generic-amd64.qcow2");
    assert.equal(
      layout.imageUrlPath,
      "/images/cloud/bookworm/latest/debian-12-generic-amd64.qcow2",
    );
    assert.ok((await Deno.lstat(published)).isSymlink, "the image is linked, not copied");

    const output = await new Deno.Command("sha512sum", { args: [image], stdout: "piped" }).output();
    assert.ok(output.success);
    const expected = new TextDecoder().decode(output.stdout).split(" ")[0];
    assert.equal(layout.sha512, expected);

    const sums = await Deno.readTextFile(join(latest, "SHA512SUMS"));
    const lines = sums.trimEnd().split("\n");
    assert.ok(lines.includes(`${expected}  debian-12-generic-amd64.qcow2`), sums);
    assert.ok(lines.length > 1, "siblings are listed like in the real file");
    for (const line of lines) assert.match(line, /^[0-9a-f]{128} {2}debian-12-[a-z0-9.-]+$/);
    const names = lines.map((line) => line.slice(130));
    assert.deepEqual(names, [...names].sort(), "sorted by file name");

    // Served, it reads like cloud.debian.org from the top-level listing down to the bytes.
    const server = await startMirrorServer(root);
    try {
      const top = await (await fetch(`${server.url}/images/cloud/`)).text();
      assert.ok(top.includes(`<a href="bookworm/">bookworm/</a>`), top);
      const listing = await (await fetch(`${server.url}/images/cloud/bookworm/latest/`)).text();
      assert.ok(listing.includes(`<a href="debian-12-generic-amd64.qcow2">`), listing);
      const body = await (await fetch(`${server.url}${layout.imageUrlPath}`)).arrayBuffer();
      assert.equal(body.byteLength, 200_000);
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
