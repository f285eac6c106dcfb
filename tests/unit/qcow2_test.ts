import { assert, assertEquals } from "../support/assert.ts";
import { inspectQcow2Header } from "../../src/qcow2.ts";

async function qemuImg(...args: string[]) {
  const out = await new Deno.Command("qemu-img", { args, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

Deno.test("reads virtual size and no backing file from a real qcow2 made by qemu-img", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await qemuImg("create", "-q", "-f", "qcow2", `${dir}/a.qcow2`, "64M");
    const header = await inspectQcow2Header(`${dir}/a.qcow2`);
    assertEquals([header.isQcow2, header.virtualSize, header.backingFile], [
      true,
      64n * 1024n * 1024n,
      undefined,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reports the backing file of an overlay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await qemuImg("create", "-q", "-f", "qcow2", `${dir}/base.qcow2`, "64M");
    await qemuImg(
      "create",
      "-q",
      "-f",
      "qcow2",
      "-F",
      "qcow2",
      "-b",
      `${dir}/base.qcow2`,
      `${dir}/top.qcow2`,
    );
    const header = await inspectQcow2Header(`${dir}/top.qcow2`);
    assertEquals(header.backingFile, `${dir}/base.qcow2`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an HTML page is not a qcow2 image", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/x`, "<html>404</html>");
    assert(!(await inspectQcow2Header(`${dir}/x`)).isQcow2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
