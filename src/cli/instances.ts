/** `cubic instances`: a table (or JSON) of every instance. */
import { Command } from "./commander.ts";
import { listInstances } from "../instance.ts";
import { formatBytes } from "../ui.ts";
import { formatTable } from "./table.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** The `instances` command. */
export function instancesCommand(getContext: GetContext, _result: CommandResult): Command {
  return new Command("instances").alias("ls").description("List instances")
    .option("--json", "print a JSON array")
    .action(async (flags: { json?: boolean }) => {
      const ctx = await getContext();
      const rows = await listInstances(ctx);
      if (flags.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      if (rows.length === 0) {
        ctx.ui.info("No instances yet; create one with `cubic run dev --image debian:12`");
        return;
      }
      const or = <T>(value: T | null, format: (v: T) => string) =>
        value === null ? "-" : format(value);
      console.log(formatTable(
        ["NAME", "IMAGE", "STATE", "CPUS", "MEMORY", "DISK", "SSH PORT"],
        rows.map((r) => [
          r.name,
          r.image ?? "-",
          r.state === "running" && r.accel ? `running (${r.accel})` : r.state,
          or(r.cpus, String),
          or(r.memoryMiB, (m) => formatBytes(m * 1024 ** 2)),
          r.diskBytes === null
            ? "-"
            : r.diskUsedBytes === null
            ? formatBytes(r.diskBytes)
            : `${formatBytes(r.diskUsedBytes)} / ${formatBytes(r.diskBytes)}`,
          or(r.sshPort, String),
        ]),
      ));
      for (const r of rows) {
        if (r.state === "broken") {
          ctx.ui.warn(
            `${r.name} is broken: ${r.reason}; repair it, or delete it with \`cubic delete --yes ${r.name}\``,
          );
        }
      }
    });
}
