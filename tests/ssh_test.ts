/**
 * src/ssh.ts against a real OpenSSH sshd on 127.0.0.1, started once for this module with a host
 * key from {@linkcode generateEd25519KeyPair}. sshd needs root here (privilege separation,
 * /run/sshd); without it the sshd tests are skipped with a printed reason. CI runs as root and
 * needs the openssh-server and openssh-client packages.
 */

import assert from "node:assert/strict";
import { ExitCode, UserError } from "../src/errors.ts";
import {
  fingerprint,
  generateEd25519KeyPair,
  HostKeyMismatch,
  sshExec,
  type SshTarget,
  trySshLogin,
  waitForSsh,
} from "../src/ssh.ts";

const SSHD = "/usr/sbin/sshd";
const isRoot = Deno.uid() === 0;
const skipReason = isRoot ? undefined : "needs root to run /usr/sbin/sshd (CI runs as root)";
if (skipReason) console.warn(`tests/ssh_test.ts: skipping the sshd tests: ${skipReason}`);

Deno.test("fingerprint equals the SHA256 fingerprint ssh-keygen -lf prints", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cubic-ssh-test-" });
  try {
    for (let i = 0; i < 3; i++) {
      const pair = generateEd25519KeyPair(`cubic-test-${i}`);
      const file = `${dir}/key${i}.pub`;
      await Deno.writeTextFile(file, `${pair.publicKey}\n`);
      const fields = (await run("ssh-keygen", ["-l", "-E", "sha256", "-f", file])).split(" ");
      assert.equal(fingerprint(pair.publicKey), fields[1]);
      assert.equal(fingerprint(pair.privateKey), fields[1]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generated key pairs are OpenSSH text with the comment on the public line", () => {
  const pair = generateEd25519KeyPair("cubic@test");
  assert.match(pair.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n[\s\S]+\n-----END/);
  assert.ok(pair.privateKey.endsWith("-----END OPENSSH PRIVATE KEY-----\n"));
  assert.match(pair.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+ cubic@test$/);
  assert.notEqual(generateEd25519KeyPair().publicKey, generateEd25519KeyPair().publicKey);
  assert.throws(() => generateEd25519KeyPair("two\nlines"), TypeError);
});

Deno.test({
  name: "against a real OpenSSH sshd",
  ignore: !isRoot,
  fn: async (t) => {
    const sshd = await startSshd();
    const target = sshd.target;
    try {
      await t.step("sshd accepts our generated host key file", async () => {
        await run(SSHD, ["-t", "-f", sshd.config]);
        const derived = await run("ssh-keygen", ["-y", "-f", sshd.hostKeyFile]);
        assert.deepEqual(
          derived.split(" ").slice(0, 2),
          sshd.hostPublicKey.split(" ").slice(0, 2),
        );
      });

      await t.step("exec returns the stdout of echo hi and exit code 0", async () => {
        const out = collector();
        assert.equal(await sshExec(target, "echo hi", quiet({ stdout: out.sink })), 0);
        assert.equal(out.text(), "hi\n");
      });

      await t.step("exec of exit 3 resolves 3", async () => {
        assert.equal(await sshExec(target, "exit 3", quiet()), 3);
      });

      await t.step("exec of false resolves 1", async () => {
        assert.equal(await sshExec(target, "false", quiet()), 1);
      });

      await t.step("stderr arrives separately from stdout", async () => {
        const out = collector();
        const err = collector();
        const code = await sshExec(target, "echo out; echo err >&2; echo out2", {
          stdout: out.sink,
          stderr: err.sink,
        });
        assert.equal(code, 0);
        assert.equal(out.text(), "out\nout2\n");
        assert.equal(err.text(), "err\n");
      });

      await t.step("stdin is streamed: cat echoes a 1 MiB stream exactly", async () => {
        const input = new Uint8Array(1024 * 1024);
        for (let i = 0; i < input.length; i++) input[i] = (i * 7 + (i >> 10)) & 0xff;
        const out = collector();
        const code = await sshExec(
          target,
          "cat",
          quiet({ stdin: chunked(input), stdout: out.sink }),
        );
        assert.equal(code, 0);
        const received = out.bytes();
        assert.equal(received.length, input.length);
        assert.ok(received.every((byte, i) => byte === input[i]), "the echoed bytes differ");
      });

      await t.step("a command that stops reading stdin early still completes", async () => {
        const out = collector();
        const input = chunked(new Uint8Array(4 * 1024 * 1024));
        const code = await sshExec(
          target,
          "head -c 10 | wc -c",
          quiet({ stdin: input, stdout: out.sink }),
        );
        assert.equal(code, 0);
        assert.equal(out.text().trim(), "10");
      });

      await t.step("a command killed by SIGTERM resolves 143", async () => {
        assert.equal(await sshExec(target, "kill -TERM $$", quiet()), 143);
      });

      await t.step("env variables the server accepts reach the command", async () => {
        const out = collector();
        const env = { CUBIC_TEST_VALUE: "forty two" };
        const code = await sshExec(target, 'printf %s "$CUBIC_TEST_VALUE"', {
          ...quiet({ stdout: out.sink }),
          env,
        });
        assert.equal(code, 0);
        assert.equal(out.text(), "forty two");
      });

      await t.step("exec with pty runs the command on a terminal", async () => {
        const out = collector();
        const code = await sshExec(target, "test -t 0 && test -t 1 && echo tty", {
          ...quiet({ stdout: out.sink }),
          pty: true,
        });
        assert.equal(code, 0);
        assert.equal(out.text().trim(), "tty");
      });

      await t.step("a server presenting a different host key is refused, naming both", async () => {
        // Another sshd with its own host key, reached with the real instance's expectations.
        const impostorSshd = await startSshd();
        try {
          const impostor = { ...target, port: impostorSshd.target.port };
          const expected = fingerprint(sshd.hostPublicKey);
          const actual = fingerprint(impostorSshd.hostPublicKey);
          assert.notEqual(expected, actual);
          const check = (error: unknown) => {
            assert.ok(error instanceof HostKeyMismatch);
            assert.ok(error instanceof UserError);
            assert.equal(error.code, "HostKeyMismatch");
            assert.equal(error.expected, `ssh-ed25519 ${expected}`);
            assert.equal(error.actual, `ssh-ed25519 ${actual}`);
            assert.ok(error.message.includes(expected) && error.message.includes(actual));
            assert.ok(error.hint && error.hint.length > 0);
            return true;
          };
          await assert.rejects(trySshLogin(impostor), check);
          await assert.rejects(sshExec(impostor, "echo must-not-run", quiet()), check);
          const attempts: string[] = [];
          await assert.rejects(
            waitForSsh(impostor, {
              timeoutMs: 10_000,
              onAttempt: (_n, error) => attempts.push(error),
            }),
            check,
          );
          assert.deepEqual(attempts, [], "a host key mismatch must not be retried");
        } finally {
          await impostorSshd.stop();
        }
      });

      await t.step("a wrong client key is refused", async () => {
        const stranger = { ...target, privateKey: generateEd25519KeyPair().privateKey };
        assert.equal(await trySshLogin(stranger), "refused");
        await assert.rejects(
          sshExec(stranger, "true", quiet()),
          (error: unknown) => error instanceof UserError && error.code === "SshRefused",
        );
      });

      await t.step("the right key logs in", async () => {
        assert.equal(await trySshLogin(target), "ok");
      });

      await t.step("a port that drops connections or never speaks SSH is unreachable", async () => {
        // Like QEMU's user-mode forward before the guest's sshd exists: accept, then reset.
        const dropping = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const held: Deno.Conn[] = [];
        const serve = async (listener: Deno.Listener, keep: boolean) => {
          for await (const conn of listener) keep ? held.push(conn) : conn.close();
        };
        const serving = [serve(dropping, false), serve(silent, true)];
        try {
          const drop = { ...target, port: dropping.addr.port };
          const mute = { ...target, port: silent.addr.port };
          assert.equal(await trySshLogin(drop), "unreachable");
          assert.equal(await trySshLogin(mute, { readyTimeoutMs: 300 }), "unreachable");
          const errors: string[] = [];
          await assert.rejects(
            waitForSsh(mute, {
              timeoutMs: 700,
              intervalMs: 50,
              onAttempt: (_n, error) => errors.push(error),
            }),
            /timed out.*last error: Timed out while waiting for handshake/,
          );
          assert.ok(errors.length >= 1);
        } finally {
          dropping.close();
          silent.close();
          await Promise.all(serving);
          for (const conn of held) conn.close();
        }
      });

      await t.step("a connection lost mid-command is an SshConnectionLost error", async () => {
        // $PPID is the sshd process serving this session: killing it drops the connection.
        await assert.rejects(
          sshExec(target, "kill -KILL $PPID; sleep 10", quiet()),
          (error: unknown) => error instanceof UserError && error.code === "SshConnectionLost",
        );
      });

      await t.step(
        "an output sink that throws stops the command and rejects with its error",
        async () => {
          let calls = 0;
          const started = Date.now();
          await assert.rejects(
            sshExec(target, "yes", {
              ...quiet(),
              stdout: () => {
                calls++;
                throw new Error("stdout is closed");
              },
            }),
            /stdout is closed/,
          );
          assert.equal(calls, 1);
          assert.ok(Date.now() - started < 5_000);
        },
      );

      await t.step("waitForSsh times out with StartTimeout where nothing listens", async () => {
        const nowhere = { ...target, port: await freePort() };
        assert.equal(await trySshLogin(nowhere), "unreachable");
        const attempts: number[] = [];
        const started = Date.now();
        await assert.rejects(
          waitForSsh(nowhere, {
            timeoutMs: 1_200,
            intervalMs: 200,
            onAttempt: (n) => attempts.push(n),
          }),
          (error: unknown) => {
            assert.ok(error instanceof UserError);
            assert.equal(error.code, "StartTimeout");
            assert.equal(error.exitCode, ExitCode.timeout);
            assert.match(error.message, /last error: .*ECONNREFUSED/);
            return true;
          },
        );
        assert.ok(Date.now() - started < 5_000);
        assert.ok(attempts.length >= 2, `expected retries, got ${attempts.length}`);
        assert.deepEqual(attempts, attempts.map((_, i) => i + 1));
      });

      await t.step("waitForSsh stops when its signal aborts", async () => {
        const nowhere = { ...target, port: await freePort() };
        const controller = new AbortController();
        const waiting = waitForSsh(nowhere, { timeoutMs: 60_000, signal: controller.signal });
        setTimeout(() => controller.abort(new Error("stop waiting")), 300);
        await assert.rejects(waiting, /stop waiting/);
      });

      await t.step("waitForSsh succeeds against the live sshd", async () => {
        const attempts: string[] = [];
        await waitForSsh(target, {
          timeoutMs: 10_000,
          onAttempt: (_n, error) => attempts.push(error),
        });
        assert.deepEqual(attempts, []);
      });

      await t.step("waitForSsh succeeds once sshd comes up late", async () => {
        const late = await startSshd({ delayMs: 1_500 });
        try {
          const attempts: string[] = [];
          await waitForSsh(late.target, {
            timeoutMs: 15_000,
            intervalMs: 200,
            onAttempt: (_n, error) => attempts.push(error),
          });
          assert.ok(attempts.length >= 1, "sshd was expected to be down at first");
          assert.equal(await sshExec(late.target, "exit 0", quiet()), 0);
        } finally {
          await late.stop();
        }
      });

      await t.step("sshShell with piped stdin runs the script and returns its status", async () => {
        const result = await runShellScript(target, "echo piped-ok\nuname -s\nexit 5\n");
        assert.equal(result.code, 5, result.stderr);
        assert.equal(result.stdout, "piped-ok\nLinux\n");
      });

      await t.step("sshShell with piped stdin ends with the script's last status", async () => {
        const result = await runShellScript(target, "echo last >&2; true\n");
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "");
        assert.ok(result.stderr.includes("last"), result.stderr);
      });
      await t.step("sshShell refuses a wrong host key before running anything", async () => {
        const wrongHost = { ...target, hostPublicKey: generateEd25519KeyPair().publicKey };
        const result = await runShellScript(wrongHost, "echo must-not-run\n");
        assert.notEqual(result.code, 0);
        assert.equal(result.stdout, "");
        assert.match(result.stderr, /Verifying the SSH host key of 127\.0\.0\.1:\d+ failed/);
      });

      await t.step({
        name: "sshShell on a terminal opens a PTY with TERM and returns the shell's status",
        ignore: !(await commandExists("script")),
        fn: async () => {
          const result = await runShellScript(target, 'echo "term=$TERM"; exit 3\n', {
            terminal: true,
          });
          assert.equal(result.code, 3, result.stdout + result.stderr);
          assert.match(result.stdout, /term=vt220/);
        },
      });
    } finally {
      await sshd.stop();
    }
  },
});

// ---------------------------------------------------------------------------------------------
// Helpers

interface Sshd {
  target: SshTarget;
  config: string;
  hostKeyFile: string;
  hostPublicKey: string;
  stop(): Promise<void>;
}

/** Starts `sshd -D -e` on a free 127.0.0.1 port (optionally after a delay) and waits for it. */
async function startSshd(options: { delayMs?: number } = {}): Promise<Sshd> {
  const dir = await Deno.makeTempDir({ prefix: "cubic-sshd-" });
  const hostKey = generateEd25519KeyPair("cubic-test-host");
  const clientKey = generateEd25519KeyPair("cubic-test-client");
  const hostKeyFile = `${dir}/ssh_host_ed25519_key`;
  const authorizedKeys = `${dir}/authorized_keys`;
  const config = `${dir}/sshd_config`;
  const port = await freePort();
  await Deno.writeTextFile(hostKeyFile, hostKey.privateKey, { mode: 0o600 });
  await Deno.chmod(hostKeyFile, 0o600);
  await Deno.writeTextFile(authorizedKeys, `${clientKey.publicKey}\n`, { mode: 0o600 });
  await Deno.writeTextFile(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKeyFile}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      `PidFile ${dir}/sshd.pid`,
      "StrictModes no",
      "PermitRootLogin prohibit-password",
      "AcceptEnv CUBIC_TEST_*",
      "",
    ].join("\n"),
  );
  await Deno.mkdir("/run/sshd", { recursive: true });
  const user = (await run("id", ["-un"])).trim();
  const target: SshTarget = {
    host: "127.0.0.1",
    port,
    user,
    privateKey: clientKey.privateKey,
    hostPublicKey: hostKey.publicKey,
  };

  let child: Deno.ChildProcess | undefined;
  let log = "";
  let logDone: Promise<void> = Promise.resolve();
  let listening: Promise<void> = Promise.resolve();
  const spawn = () => {
    child = new Deno.Command(SSHD, {
      args: ["-D", "-e", "-f", config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let onListening = () => {};
    listening = new Promise((resolve) => onListening = resolve);
    logDone = (async () => {
      for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
        log += text;
        if (log.includes("Server listening on")) onListening();
      }
    })();
    return child;
  };

  const stop = async () => {
    clearTimeout(delayTimer);
    if (child) {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      await child.status;
      await logDone;
    }
    await Deno.remove(dir, { recursive: true });
  };

  let delayTimer: ReturnType<typeof setTimeout> | undefined;
  if (options.delayMs) {
    delayTimer = setTimeout(spawn, options.delayMs);
  } else {
    const started = spawn();
    const exited = started.status.then((status) => {
      throw new Error(`sshd exited with ${status.code} before listening:\n${log}`);
    });
    try {
      await Promise.race([listening, exited]);
    } catch (error) {
      await logDone;
      await Deno.remove(dir, { recursive: true });
      throw error;
    }
    exited.catch(() => {});
  }
  return { target, config, hostKeyFile, hostPublicKey: hostKey.publicKey, stop };
}

/**
 * Runs a tiny Deno program that calls sshShell with `script` piped to its stdin; with `terminal`
 * the program runs under script(1), so its stdin is a pseudo-terminal.
 */
async function runShellScript(
  target: SshTarget,
  script: string,
  options: { terminal?: boolean } = {},
) {
  const dir = await Deno.makeTempDir({ prefix: "cubic-ssh-shell-" });
  try {
    const program = `${dir}/shell.ts`;
    await Deno.writeTextFile(
      program,
      [
        `import { sshShell } from ${
          JSON.stringify(new URL("../src/ssh.ts", import.meta.url).href)
        };`,
        `const target = JSON.parse(Deno.env.get("CUBIC_TEST_TARGET") ?? "");`,
        `Deno.exit(await sshShell(target));`,
        "",
      ].join("\n"),
    );
    const config = new URL("../deno.json", import.meta.url).pathname;
    const deno = [Deno.execPath(), "run", "--quiet", "--frozen", "-A", "--config", config, program];
    const [command, ...args] = options.terminal
      ? ["script", "--quiet", "--return", "--command", deno.map(shellQuote).join(" "), "/dev/null"]
      : deno;
    const child = new Deno.Command(command!, {
      args,
      env: { CUBIC_TEST_TARGET: JSON.stringify(target), NO_COLOR: "1", TERM: "vt220" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(script));
    // script(1) turns EOF on its input into ^D on the terminal: keep the pipe open until the end.
    if (!options.terminal) await writer.close();
    const output = await child.output();
    if (options.terminal) await writer.close().catch(() => {});
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

async function commandExists(name: string): Promise<boolean> {
  const output = await new Deno.Command("sh", {
    args: ["-c", `command -v "$1"`, "sh", name],
    stdout: "null",
    stderr: "null",
  }).output();
  return output.success;
}

async function run(command: string, args: string[]): Promise<string> {
  const output = await new Deno.Command(command, { args, stdin: "null" }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    throw new Error(
      `${command} ${args.join(" ")} exited with ${output.code}: ${decoder.decode(output.stderr)}`,
    );
  }
  return decoder.decode(output.stdout).trim();
}

async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  await new Promise((resolve) => setTimeout(resolve, 0));
  return port;
}

function collector() {
  const chunks: Uint8Array[] = [];
  const bytes = () => {
    const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return all;
  };
  return {
    sink: (chunk: Uint8Array) => void chunks.push(chunk.slice()),
    bytes,
    text: () => new TextDecoder().decode(bytes()),
  };
}

/** Output callbacks that keep test output clean unless a test collects them. */
function quiet(
  options: {
    stdin?: ReadableStream<Uint8Array>;
    stdout?: (chunk: Uint8Array) => void;
    stderr?: (chunk: Uint8Array) => void;
  } = {},
) {
  return {
    stdin: options.stdin ?? "null" as const,
    stdout: options.stdout ?? (() => {}),
    stderr: options.stderr ?? (() => {}),
  };
}

function chunked(data: Uint8Array, size = 64 * 1024): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= data.length) return controller.close();
      controller.enqueue(data.slice(offset, offset + size));
      offset += size;
    },
  });
}
