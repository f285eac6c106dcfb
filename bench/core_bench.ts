/**
 * Speed and memory targets live here, never in timed tests. Run with `deno task bench`.
 *
 * Targets (2-core CI machine): verifying a download must not be slower than the network —
 * SHA-512 over 64 MiB in well under a second; parsing a 5 000-line checksum file in
 * milliseconds; a seed ISO in well under a millisecond; a per-instance CA in under 2 s.
 */
import { createDigest, expectedDigest } from "../src/checksum.ts";
import { buildIso9660 } from "../src/iso9660.ts";
import { generateTlsMaterial } from "../src/ca.ts";
import { qemuArgs } from "../src/qemu.ts";

const chunk = new Uint8Array(1024 * 1024).fill(7);

Deno.bench("sha512 over 64 MiB in 1 MiB chunks (download verification)", () => {
  const hash = createDigest("sha512");
  for (let i = 0; i < 64; i++) hash.update(chunk);
  hash.digest("hex");
});

const lines: string[] = [];
for (let i = 0; i < 5000; i++) lines.push(`${i.toString(16).padStart(128, "0")}  file-${i}.qcow2`);
const checksumText = lines.join("\n");

Deno.bench("find one entry in a 5000-line checksum file", () => {
  expectedDigest(checksumText, "file-4999.qcow2", { algorithm: "sha512" });
});

const seedFiles = [
  { name: "meta-data", data: new TextEncoder().encode("instance-id: x\nlocal-hostname: x\n") },
  { name: "user-data", data: new Uint8Array(4096).fill(0x61) },
];

Deno.bench("build a cloud-init seed ISO", () => {
  buildIso9660(seedFiles, { volumeId: "cidata" });
});

Deno.bench("generate a per-instance CA with server and client certificates", { n: 5 }, () => {
  generateTlsMaterial({ commonName: "bench" });
});

Deno.bench("build a QEMU command line", () => {
  qemuArgs({
    name: "b",
    arch: "amd64",
    accel: "tcg",
    cpus: 2,
    memoryMiB: 1024,
    firmwareCode: "/c",
    firmwareVars: "/v",
    disk: "/d",
    seed: "/s",
    sshPort: 1,
    monitorPort: 2,
    consolePort: 3,
    tlsDir: "/t",
    pidfile: "/p",
    serialLog: "/l",
    isolate: false,
    hostForwards: [],
  });
});

const memoryBefore = Deno.memoryUsage().rss;
Deno.bench("memory: hashing 256 MiB streamed keeps RSS growth under 64 MiB", { n: 1 }, () => {
  const hash = createDigest("sha256");
  for (let i = 0; i < 256; i++) hash.update(chunk);
  hash.digest("hex");
  const grown = Deno.memoryUsage().rss - memoryBefore;
  if (grown > 64 * 1024 * 1024) throw new Error(`RSS grew by ${grown} bytes`);
});
