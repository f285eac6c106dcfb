/** Every built-in provider. A provider file that is not listed here fails `providers_test.ts`. */
import type { Provider } from "../src/provider.ts";
import { debian } from "./debian.ts";

/** Built-in providers, by id. */
export const PROVIDERS: readonly Provider[] = [debian];
