/** Every built-in provider. A provider file that is not listed here fails `registry_test.ts`. */
import type { Provider } from "../src/provider.ts";
import { debian } from "./debian.ts";
import { almalinux } from "./almalinux.ts";
import { archlinux } from "./archlinux.ts";
import { centosStream } from "./centos-stream.ts";
import { fedora } from "./fedora.ts";
import { gentoo } from "./gentoo.ts";
import { opensuse } from "./opensuse.ts";
import { rockylinux } from "./rockylinux.ts";
import { ubuntu } from "./ubuntu.ts";

/** Built-in providers, by id: Debian first (the reference provider), then alphabetical. */
export const PROVIDERS: readonly Provider[] = [
  debian,
  almalinux,
  archlinux,
  centosStream,
  fedora,
  gentoo,
  opensuse,
  rockylinux,
  ubuntu,
];
