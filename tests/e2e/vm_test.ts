/**
 * The main job end to end, on a real VM: a real Debian 12 cloud image served by a real HTTP
 * mirror on 127.0.0.1, real QEMU (TCG here, after Cubic finds this host's KVM broken), real
 * cloud-init, real SSH. One VM is shared by every step because each boot costs a minute or more.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../support/assert.ts";
import { listDir, makeCubicHome, runCubic } from "../support/cli.ts";
import { layoutDebianMirror } from "../support/debian_mirror.ts";
import { startMirrorServer } from "../support/mirror_server.ts";
import { testImage } from "../support/test_image.ts";
import { generateTlsMaterial, readClientTls } from "../../src/ca.ts";
import { tryConnectTls } from "../../src/qmp.ts";
import { generateEd25519KeyPair } from "../../src/ssh.ts";

const NAME = "e2e";

function mode(info: Deno.FileInfo): string {
  return (info.mode! & 0o777).toString(8);
}

async function qemuProcessFor(pidfile: string): Promise<boolean> {
  const out = await new Deno.Command("pgrep", { args: ["-f", pidfile], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim() !== "";
}

async function listeningAddresses(pid: number): Promise<string[]> {
  const out = await new Deno.Command("ss", { args: ["-Hltnp"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[3]!);
}

Deno.test({
  name:
    "the main job on a real Debian 12 VM: create, start, exec, ssh, TLS refusals, stop, auto-start, delete",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const image = await testImage();
    const mirrorDir = await Deno.makeTempDir({ prefix: "cubic-e2e-mirror-" });
    await layoutDebianMirror(image, mirrorDir);
    const server = await startMirrorServer(mirrorDir);
    const home = await makeCubicHome({ CUBIC_MIRROR_DEBIAN: `${server.url}/images/cloud/` });
    const cubic = (args: string[], stdin?: string) =>
      runCubic(args, { env: home.env, umask: "000", ...(stdin === undefined ? {} : { stdin }) });
    const dir = join(home.machines, NAME);
    try {
      await t.step(
        "create verifies and caches the image and builds a private instance directory",
        async () => {
          const r = await cubic([
            "create",
            NAME,
            "--image",
            "debian:12",
            "--cpus",
            "2",
            "--memory",
            "1G",
          ]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals(mode(await Deno.stat(dir)), "700");
          for (
            const file of [
              "ssh_client_key",
              "ssh_host_ed25519_key",
              "instance.json",
              "cidata.iso",
              "disk.qcow2",
            ]
          ) {
            assertEquals(mode(await Deno.stat(join(dir, file))), "600", file);
          }
          const info = await new Deno.Command("qemu-img", {
            args: ["info", "--output=json", join(dir, "disk.qcow2")],
            stdout: "piped",
          }).output();
          const json = JSON.parse(new TextDecoder().decode(info.stdout));
          assert(
            String(json["backing-filename"]).startsWith(home.images),
            "the disk is an overlay of the cached image",
          );
          assertEquals(json["virtual-size"], 20 * 1024 ** 3);
        },
      );

      await t.step(
        "start boots the VM (falling back from a broken KVM by itself) and returns once SSH works",
        async () => {
          const r = await cubic(["start", NAME]);
          assertEquals(r.code, 0, r.stderr);
          assertMatch(r.stderr, /e2e is running \((kvm|tcg), ssh port \d+\)/);
          const tls = join(dir, "tls");
          assertEquals(mode(await Deno.stat(tls)), "700");
          for (
            const f of [
              "ca-cert.pem",
              "server-cert.pem",
              "server-key.pem",
              "client-cert.pem",
              "client-key.pem",
            ]
          ) {
            assertEquals(mode(await Deno.stat(join(tls, f))), "600", f);
          }
          for (const f of ["serial.log", "qemu.log", "efivars.fd"]) {
            assertEquals(mode(await Deno.stat(join(dir, f))), "600", f);
          }
        },
      );

      await t.step("exec prints Debian 12's /etc/os-release from inside the guest", async () => {
        const r = await cubic(["exec", NAME, "--", "cat", "/etc/os-release"]);
        assertEquals(r.code, 0, r.stderr);
        assertMatch(r.stdout, /^VERSION_ID="12"$/m);
        assertMatch(r.stdout, /^ID=debian$/m);
      });

      await t.step("exec propagates the remote exit code", async () => {
        assertEquals((await cubic(["exec", NAME, "--", "false"])).code, 1);
        assertEquals((await cubic(["exec", NAME, "--", "exit 42"])).code, 42);
      });

      await t.step(
        "exec keeps stderr apart from stdout and runs as the instance user with sudo",
        async () => {
          const r = await cubic([
            "exec",
            NAME,
            "--",
            "echo out; echo err >&2; id -un; sudo -n id -u",
          ]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals(r.stdout, "out\ncubic\n0\n");
          assertMatch(r.stderr, /^err$/m);
        },
      );

      await t.step("ssh with piped stdin runs the script and returns its exit code", async () => {
        const r = await cubic(["ssh", NAME], 'echo "hello from $(hostname)"\nexit 7\n');
        assertEquals(r.code, 7, r.stderr);
        assertEquals(r.stdout, "hello from e2e\n", "the script's output only, no login banner");
      });

      await t.step("exec as a user the guest does not know names the instance's user", async () => {
        const r = await cubic(["exec", `root@${NAME}`, "--", "true"]);
        assertEquals(r.code, 1, r.stderr);
        assertMatch(
          r.stderr,
          /^error: Logging in to root@127\.0\.0\.1:\d+ failed: the server refused the key/m,
        );
        assertMatch(r.stderr, new RegExp(`^hint: Cubic set '${NAME}' up for the user cubic `, "m"));
      });

      await t.step("the guest has no password login and only Cubic's host key", async () => {
        const r = await cubic([
          "exec",
          NAME,
          "--",
          "sudo passwd -S cubic; sudo sshd -T | grep -i '^passwordauthentication'; ls /etc/ssh/ | grep -c '^ssh_host_.*_key$'",
        ]);
        assertEquals(r.code, 0, r.stderr);
        assertMatch(r.stdout, /^cubic L /m);
        assertMatch(r.stdout, /^passwordauthentication no$/m);
        assertMatch(r.stdout, /^1$/m);
        const hostKey = await Deno.readTextFile(join(dir, "ssh_host_ed25519_key.pub"));
        const guest = await cubic([
          "exec",
          NAME,
          "--",
          "sudo cat /etc/ssh/ssh_host_ed25519_key.pub",
        ]);
        assertEquals(guest.stdout.split(" ").slice(0, 2), hostKey.split(" ").slice(0, 2));
      });

      await t.step("instances lists the running VM", async () => {
        const r = await cubic(["instances", "--json"]);
        assertEquals(r.code, 0, r.stderr);
        const rows = JSON.parse(r.stdout);
        assertEquals(rows.length, 1);
        assertEquals(
          [rows[0].name, rows[0].image, rows[0].state, rows[0].cpus, rows[0].memoryMiB],
          [
            NAME,
            "debian:12:amd64",
            "running",
            2,
            1024,
          ],
        );
        const table = await cubic(["instances"]);
        assertMatch(table.stdout, /^NAME\s+IMAGE\s+STATE\s+CPUS\s+MEMORY\s+DISK\s+SSH PORT$/m);
        assertMatch(table.stdout, new RegExp(`^e2e\\s+debian:12:amd64\\s+running`, "m"));
      });

      await t.step("QEMU listens on 127.0.0.1 only", async () => {
        const pid = Number(await Deno.readTextFile(join(dir, "qemu.pid")));
        const addresses = await listeningAddresses(pid);
        assertEquals(addresses.length, 3, addresses.join(" ")); // SSH forward, monitor, console
        for (const a of addresses) assert(a.startsWith("127.0.0.1:"), a);
      });

      await t.step(
        "the monitor and console refuse TLS clients without the instance's client certificate",
        async () => {
          const config = JSON.parse(await Deno.readTextFile(join(dir, "instance.json")));
          const own = await readClientTls(join(dir, "tls"));
          const other = generateTlsMaterial({ commonName: "intruder" });
          for (const port of [config.monitorPort, config.consolePort]) {
            assertEquals(await tryConnectTls(port, { caCert: own.caCert }, 5000), "refused");
            assertEquals(
              await tryConnectTls(port, {
                caCert: own.caCert,
                cert: other.clientCert,
                key: other.clientKey,
              }, 5000),
              "refused",
            );
          }
          // The instance's own certificate is accepted (the port is free again afterwards).
          assertEquals(await tryConnectTls(config.consolePort, own, 5000), "accepted");
        },
      );

      await t.step(
        "a guest presenting another host key is refused with both fingerprints",
        async () => {
          const file = join(dir, "instance.json");
          const original = await Deno.readTextFile(file);
          const config = JSON.parse(original);
          config.hostPublicKey = generateEd25519KeyPair().publicKey;
          await Deno.writeTextFile(file, JSON.stringify(config));
          try {
            const r = await cubic(["exec", NAME, "--", "true"]);
            assertEquals(r.code, 1);
            assertMatch(r.stderr, /SHA256:[A-Za-z0-9+/]{43}/);
            assertEquals(r.stdout, "");
          } finally {
            await Deno.writeTextFile(file, original);
          }
        },
      );

      await t.step("stop powers the guest off and QEMU exits", async () => {
        const pidfile = join(dir, "qemu.pid");
        const r = await cubic(["stop", NAME]);
        assertEquals(r.code, 0, r.stderr);
        assertMatch(r.stderr, /e2e stopped/);
        assert(!(await qemuProcessFor(pidfile)), "QEMU still runs");
        const rows = JSON.parse((await cubic(["instances", "--json"])).stdout);
        assertEquals(rows[0].state, "stopped");
      });

      await t.step("exec starts a stopped instance and waits for it first", async () => {
        const r = await cubic(["exec", NAME, "--", "cat /etc/hostname"]);
        assertEquals(r.code, 0, r.stderr);
        assertEquals(r.stdout, "e2e\n");
      });

      await t.step(
        "start with a too short --timeout exits 4 and shows the console's last lines",
        async () => {
          assertEquals((await cubic(["stop", "--force", NAME])).code, 0);
          const r = await cubic(["start", NAME, "--timeout", "2"]);
          assertEquals(r.code, 4, r.stderr);
          assertMatch(r.stderr, /^error: Waiting for 'e2e' failed: no SSH login after \d+ s/m);
          assertMatch(r.stderr, /Last console lines:\n./);
        },
      );

      await t.step(
        "delete --yes stops the VM and leaves no trace but the shared image cache",
        async () => {
          const pidfile = join(dir, "qemu.pid");
          const r = await cubic(["delete", "--yes", NAME]);
          assertEquals(r.code, 0, r.stderr);
          assertEquals(await listDir(home.machines), []);
          assert(!(await qemuProcessFor(pidfile)), "QEMU still runs");
          assertEquals((await listDir(home.images)).filter((n) => n.endsWith(".qcow2")).length, 1);
        },
      );
    } finally {
      // Never leave a VM behind, whatever failed.
      await runCubic(["stop", "--all", "--force"], { env: home.env }).catch(() => {});
      await server.close();
      await Deno.remove(home.root, { recursive: true }).catch(() => {});
      await Deno.remove(mirrorDir, { recursive: true }).catch(() => {});
    }
  },
});
