/** `cubic create`: create an instance without starting it. */
import { Command } from "./commander.ts";
import { createInstance, type CreateOptions } from "../instance.ts";
import { validateUser } from "../store.ts";
import { parseCpus, parseMemory, parseSizeOption } from "./options.ts";
import type { CommandResult, GetContext } from "./root.ts";

/** Options `create` and `run` share. */
export interface CreateFlags {
  image: string;
  cpus?: string;
  memory?: string;
  disk?: string;
  user?: string;
  isolate?: boolean;
}

/** Adds the create flags to a command. */
export function withCreateFlags(command: Command): Command {
  return command
    .requiredOption("-i, --image <image>", "image as vendor:name[:arch], e.g. debian:12")
    .option("-c, --cpus <n>", "virtual CPUs, 1 to 255 (default: up to 4, at most the host's)")
    .option("-m, --memory <size>", "memory, e.g. 2G (default: half the host, 512M to 4G)")
    .option("-d, --disk <size>", "disk size, e.g. 40G (default: 20G or the image size)")
    .option("-u, --user <name>", "guest user name (default: cubic)")
    .option("--isolate", "no outbound network for the guest");
}

/** Converts the flags into create options; every value is checked here, before any work. */
export function createOptions(flags: CreateFlags): CreateOptions {
  const options: CreateOptions = { image: flags.image };
  if (flags.cpus !== undefined) options.cpus = parseCpus(flags.cpus);
  if (flags.memory !== undefined) options.memoryMiB = parseMemory(flags.memory);
  if (flags.disk !== undefined) options.diskBytes = parseSizeOption(flags.disk, "--disk");
  if (flags.user !== undefined) options.user = validateUser(flags.user);
  if (flags.isolate) options.isolate = true;
  return options;
}

/** The `create` command. */
export function createCommand(getContext: GetContext, _result: CommandResult): Command {
  return withCreateFlags(
    new Command("create").description("Create an instance (download and verify its image first)")
      .argument("<name>", "instance name"),
  ).action(async (name: string, flags: CreateFlags) => {
    const options = createOptions(flags);
    const ctx = await getContext();
    const config = await createInstance(ctx, name, options);
    ctx.ui.info(`Created ${name} (${config.image}, ${config.cpus} CPUs, ${config.memoryMiB} MiB)`);
  });
}
