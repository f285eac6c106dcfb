/**
 * What every command needs from the outside world, gathered once: directories, environment,
 * configuration, providers, the network and the terminal. Tests build their own.
 */
import { type CubicConfig, loadConfig } from "./config.ts";
import { fetchText } from "./http.ts";
import { type CubicPaths, defaultPaths } from "./paths.ts";
import type { FetchText, Provider } from "./provider.ts";
import { createUi, type Ui } from "./ui.ts";
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
  return {
    paths,
    env: Deno.env.toObject(),
    config: await loadConfig(paths.config),
    providers: PROVIDERS,
    fetchText,
    ui: createUi(options),
  };
}
