/**
 * The monitor's mutual TLS against a real QEMU: paused (-S), no disks, so each VM costs ~0.1 s.
 */
import assert from "node:assert/strict";
import { type ClientTls, generateTlsMaterial, readClientTls, writeTlsDir } from "../src/ca.ts";
import { UserError } from "../src/errors.ts";
import { QmpClient, QmpError, tryConnectTls } from "../src/qmp.ts";

const instance = generateTlsMaterial({ commonName: "qmp-test" });
const otherInstance = generateTlsMaterial({ commonName: "other" });
const otherClient: ClientTls = {
  caCert: otherInstance.caCert,
  cert: otherInstance.clientCert,
  key: otherInstance.clientKey,
};

interface RunningQemu {
  port: number;
  tls: ClientTls;
  /** Resolves when QEMU exits, with its exit status and output. */
  exited: Promise<Deno.CommandOutput>;
  /** Kills QEMU at once (SIGKILL). */
  kill: () => void;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves to the promise's value, or to "timeout" after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Connects once QEMU listens; "connection refused" only means it has not got there yet. */
async function connectWhenReady(qemu: RunningQemu): Promise<QmpClient> {
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      return await QmpClient.connect(qemu.port, qemu.tls, { timeoutMs: 5_000 });
    } catch (error) {
      const notListening = error instanceof UserError &&
        error.cause instanceof Deno.errors.ConnectionRefused;
      if (!notListening || Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

/** Starts a paused QEMU whose monitor requires the instance's certificates; always kills it. */
async function withQemu(fn: (qemu: RunningQemu) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-qmp-test-" });
  let exited: Promise<Deno.CommandOutput> | undefined;
  let child: Deno.ChildProcess | undefined;
  let failed = false;
  try {
    await writeTlsDir(dir, instance);
    const port = freePort();
    child = new Deno.Command("qemu-system-x86_64", {
      args: [
        ...["-machine", "q35", "-accel", "tcg", "-nodefaults", "-display", "none", "-S"],
        ...["-m", "64"],
        ...["-object", `tls-creds-x509,id=tls0,dir=${dir},endpoint=server,verify-peer=on`],
        "-chardev",
        `socket,id=qmp,host=127.0.0.1,port=${port},server=on,wait=off,tls-creds=tls0`,
        ...["-mon", "chardev=qmp,mode=control"],
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    exited = child.output();
    await fn({ port, tls: await readClientTls(dir), exited, kill: () => child?.kill("SIGKILL") });
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    if (child !== undefined && exited !== undefined) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited, e.g. after `quit`.
      }
      const output = await exited;
      const stderr = new TextDecoder().decode(output.stderr).trim();
      if (failed && stderr !== "") console.error(`QEMU stderr:\n${stderr}`);
    }
    await Deno.remove(dir, { recursive: true });
  }
}

/** Proves the monitor still serves the right client, i.e. a refused client did not wedge it. */
async function assertMonitorServes(qemu: RunningQemu): Promise<void> {
  const client = await QmpClient.connect(qemu.port, qemu.tls, { timeoutMs: 5_000 });
  try {
    const status = await client.execute<{ status: string }>("query-status");
    assert.equal(status.status, "prelaunch");
  } finally {
    client.close();
  }
}

Deno.test("query-status over mutual TLS reports the paused VM as prelaunch", async () => {
  await withQemu(async (qemu) => {
    const client = await connectWhenReady(qemu);
    try {
      assert.equal(client.greeting.QMP.version.qemu.major >= 7, true);
      const status = await client.execute<{ status: string; running: boolean }>("query-status");
      assert.equal(status.status, "prelaunch");
      assert.equal(status.running, false);
      // A second and third command prove replies do not lag one command behind.
      assert.deepEqual(await client.execute("query-name"), {});
      const commands = await client.execute<{ name: string }[]>("query-commands");
      assert.ok(commands.some((command) => command.name === "quit"));
      const hmp = await client.execute("human-monitor-command", { "command-line": "info status" });
      assert.match(String(hmp), /paused \(prelaunch\)/);
      // Commands issued together run one at a time and each gets its own reply.
      const [status2, name, kvm] = await Promise.all([
        client.execute<{ status: string }>("query-status"),
        client.execute("query-name"),
        client.execute<{ enabled: boolean }>("query-kvm"),
      ]);
      assert.equal(status2.status, "prelaunch");
      assert.deepEqual(name, {});
      assert.equal(kvm.enabled, false);
    } finally {
      client.close();
    }
  });
});

Deno.test("the monitor refuses a TLS client that presents no client certificate", async () => {
  await withQemu(async (qemu) => {
    (await connectWhenReady(qemu)).close();
    assert.equal(await tryConnectTls(qemu.port, { caCert: qemu.tls.caCert }, 3_000), "refused");
    assert.equal(await tryConnectTls(qemu.port, qemu.tls, 3_000), "accepted");
    await assertMonitorServes(qemu);
  });
});

Deno.test("the monitor refuses a client certificate issued by another instance's CA", async () => {
  await withQemu(async (qemu) => {
    (await connectWhenReady(qemu)).close();
    // Trust this instance's server but present the other instance's client certificate.
    const foreign = { caCert: qemu.tls.caCert, cert: otherClient.cert, key: otherClient.key };
    assert.equal(await tryConnectTls(qemu.port, foreign, 3_000), "refused");
    const error = await QmpClient.connect(qemu.port, foreign, { timeoutMs: 3_000 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
    assert.match(error.message, /closed the connection during the TLS handshake/);
    await assertMonitorServes(qemu);
  });
});

Deno.test("Cubic refuses a monitor whose server certificate comes from another instance's CA", async () => {
  await withQemu(async (qemu) => {
    (await connectWhenReady(qemu)).close();
    const error = await QmpClient.connect(qemu.port, otherClient, { timeoutMs: 3_000 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
    assert.match(error.message, /invalid peer certificate/);
    assert.match(error.hint ?? "", /not issued by this instance's CA/);
    await assert.rejects(tryConnectTls(qemu.port, otherClient, 3_000), /invalid peer certificate/);
    await assertMonitorServes(qemu);
  });
});

Deno.test("a plain TCP client never receives the QMP greeting", async () => {
  await withQemu(async (qemu) => {
    (await connectWhenReady(qemu)).close();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: qemu.port });
    const received: number[] = [];
    let ending = "timeout";
    try {
      await conn.write(new TextEncoder().encode('{"execute":"qmp_capabilities"}\n'));
      const buffer = new Uint8Array(4096);
      const deadline = Date.now() + 2_000;
      while (Date.now() < deadline) {
        const reading = conn.read(buffer);
        let count: number | null | "timeout";
        try {
          count = await within(reading, deadline - Date.now());
        } catch (error) {
          ending = error instanceof Error ? error.name : String(error);
          break;
        }
        if (count === "timeout") {
          conn.close();
          await reading.catch(() => {});
          break;
        }
        if (count === null) {
          ending = "EOF";
          break;
        }
        received.push(...buffer.subarray(0, count));
      }
    } finally {
      try {
        conn.close();
      } catch {
        // Closed above to cancel the pending read.
      }
    }
    const text = new TextDecoder().decode(Uint8Array.from(received));
    assert.doesNotMatch(text, /QMP|return/, `plain client received ${JSON.stringify(text)}`);
    assert.ok(["EOF", "ConnectionReset", "timeout"].includes(ending), `ended with ${ending}`);
    await assertMonitorServes(qemu);
  });
});

Deno.test("a second client times out instead of hanging while another holds the monitor", async () => {
  await withQemu(async (qemu) => {
    const first = await connectWhenReady(qemu);
    try {
      const started = Date.now();
      const error = await QmpClient.connect(qemu.port, qemu.tls, { timeoutMs: 1_000 }).then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
      assert.equal(error.code, "Timeout");
      assert.equal(error.exitCode, 4);
      assert.ok(Date.now() - started < 3_000, "the timeout fired on time");
      await assert.rejects(tryConnectTls(qemu.port, qemu.tls, 1_000), /did not finish/);
      assert.equal((await first.execute<{ status: string }>("query-status")).status, "prelaunch");
    } finally {
      first.close();
    }
    await assertMonitorServes(qemu);
  });
});

Deno.test("an error reply rejects with QMP's class and description and the session goes on", async () => {
  await withQemu(async (qemu) => {
    const client = await connectWhenReady(qemu);
    try {
      const error = await client.execute("no-such-command").then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(error instanceof QmpError, `expected a QmpError, got ${error}`);
      assert.equal(error.errorClass, "CommandNotFound");
      assert.match(error.desc, /no-such-command/);
      assert.match(error.message, /no-such-command.*CommandNotFound/);
      const status = await client.execute<{ status: string }>("query-status");
      assert.equal(status.status, "prelaunch");
    } finally {
      client.close();
    }
  });
});

Deno.test("events that arrive between replies are kept in events", async () => {
  await withQemu(async (qemu) => {
    const client = await connectWhenReady(qemu);
    try {
      await client.execute("cont");
      await client.execute("stop");
      const status = await client.execute<{ status: string }>("query-status");
      assert.equal(status.status, "paused");
      const names = client.events.map((event) => event.event);
      assert.ok(names.includes("RESUME"), `events: ${names.join(", ")}`);
      assert.ok(names.includes("STOP"), `events: ${names.join(", ")}`);
      assert.ok(client.events.every((event) => event.timestamp.seconds > 0));
    } finally {
      client.close();
    }
  });
});

Deno.test("quit ends QEMU and the client treats the closed connection as success", async () => {
  await withQemu(async (qemu) => {
    const client = await connectWhenReady(qemu);
    await client.quit({ timeoutMs: 5_000 });
    const output = await within(qemu.exited, 10_000);
    assert.notEqual(output, "timeout", "QEMU exited after quit");
    if (output !== "timeout") assert.equal(output.code, 0);
    await assert.rejects(client.execute("query-status"), /closed/);
  });
});

Deno.test("quit succeeds when QEMU has already gone", async () => {
  await withQemu(async (qemu) => {
    const client = await connectWhenReady(qemu);
    qemu.kill();
    await qemu.exited;
    await client.quit({ timeoutMs: 5_000 });
  });
});

Deno.test("a command fails with a UserError when QEMU has gone away", async () => {
  await withQemu(async (qemu) => {
    const client = await connectWhenReady(qemu);
    try {
      qemu.kill();
      await qemu.exited;
      const error = await client.execute("query-status").then(
        () => undefined,
        (error: unknown) => error,
      );
      assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
      assert.match(error.message, /query-status/);
    } finally {
      client.close();
    }
  });
});

Deno.test("connecting where nothing listens fails with a hint to start the instance", async () => {
  const error = await QmpClient.connect(freePort(), {
    caCert: instance.caCert,
    cert: instance.clientCert,
    key: instance.clientKey,
  }).then(() => undefined, (error: unknown) => error);
  assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
  assert.match(error.message, /connection refused/);
  assert.match(error.hint ?? "", /cubic start/);
});
