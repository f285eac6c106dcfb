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
import { UserError } from "./errors.ts";
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

/** The real context of this process. */
export async function createContext(
  options: { quiet: boolean; verbose: boolean },
): Promise<Context> {
  const paths = defaultPaths();
  const user = await loadUserProviders(paths.config);
  for (const p of user) {
    if (PROVIDERS.some((b) => b.id === p.id)) {
      throw new UserError(
        `Loading the user provider '${p.id}' failed: a built-in provider has that id`,
        {
          code: "InvalidProviderFile",
          hint:
            `Rename it in ${paths.config}/providers/, or override the built-in's mirror with CUBIC_MIRROR_*`,
        },
      );
    }
  }
  const providers = [...PROVIDERS, ...user];
  const ui = createUi(options);
  const { config, warnings } = await loadConfig(paths.config, {
    knownProviders: providers.map((p) => p.id),
  });
  for (const warning of warnings) ui.warn(warning);
  return { paths, env: Deno.env.toObject(), config, providers, fetchText, ui };
}
