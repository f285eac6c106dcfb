/**
 * The real Debian 12 cloud image the VM tests boot: `CUBIC_TEST_IMAGE`, or the one
 * scripts/build-test-image.sh built (and builds now, if missing — it needs root and ~90 s).
 */
const SCRIPT = new URL("../../scripts/build-test-image.sh", import.meta.url).pathname;

/** Path of the test image, building it if needed. */
export async function testImage(): Promise<string> {
  const fromEnv = Deno.env.get("CUBIC_TEST_IMAGE");
  if (fromEnv) return fromEnv;
  const out = await new Deno.Command(SCRIPT, { stdout: "piped", stderr: "inherit" }).output();
  if (!out.success) {
    throw new Error(
      `scripts/build-test-image.sh failed (exit ${out.code}); the VM tests need the image it builds. ` +
        "Run it as root, or set CUBIC_TEST_IMAGE to a Debian 12 generic cloud qcow2.",
    );
  }
  return new TextDecoder().decode(out.stdout).trim();
}
