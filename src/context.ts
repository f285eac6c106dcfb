/**
 * What every command needs from the outside world, gathered once: directories, environment,
 * configuration, providers, the network and the terminal. Tests build their own.
 */
import { type CubicConfig, loadConfig } from "./config.ts";
import { fetchText } from "./http.ts";
import { type CubicPaths, defaultPaths } from "./paths.ts";
import type { FetchText, Provider } from "./provider.ts";
import { createUi, type Ui } from "./ui.ts";
import { loadUserProviders } from "./declarative_provider.ts";
import { PROVIDERS } from "../providers/mod.ts";

/** The world as a command sees it. */
export interface Context {
  paths: CubicPaths;
  env: Record<string, string | undefined>;
  config: CubicConfig;
  providers: readonly Provider[];
  fetchText: FetchText;
  ui: Ui;
}

/**
 * The real context of this process. A provider file that cannot be used does not stop commands
 * that need no provider (`instances`, `stop`, `delete`, ...): the error is raised when
 * `providers` is first read, by a command that lists or resolves images.
 */
export async function createContext(
  options: { quiet: boolean; verbose: boolean },
): Promise<Context> {
  const paths = defaultPaths();
  const user = await loadUserProviders(paths.config, { reserved: PROVIDERS.map((p) => p.id) });
  const providers = [...PROVIDERS, ...user.providers];
  const ui = createUi(options);
  const { config, warnings } = await loadConfig(paths.config, {
    // With a provider file unreadable, its id is unknown: do not call config entries for it typos.
    ...(user.problem === undefined ? { knownProviders: providers.map((p) => p.id) } : {}),
  });
  for (const warning of warnings) ui.warn(warning);
  return {
    paths,
    env: Deno.env.toObject(),
    config,
    get providers(): readonly Provider[] {
      if (user.problem !== undefined) throw user.problem;
      return providers;
    },
    fetchText,
    ui,
  };
}
