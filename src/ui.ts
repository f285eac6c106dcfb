/**
 * Human output on stderr: info and warnings, and spinners/progress bars only on a terminal.
 * stdout stays clean for command output and `--json`.
 */
import { printable } from "./printable.ts";

/** How a command talks to the person running it. */
export interface Ui {
  info(message: string): void;
  warn(message: string): void;
  /** Details shown only with --verbose. */
  debug(message: string): void;
  /** Starts a spinner (terminal only); `update` changes its text, `stop` clears it. */
  spinner(label: string): { update(label: string): void; stop(): void };
  /** A download progress reporter (terminal only). */
  progress(
    label: string,
  ): { report(done: number, total: number | undefined, resumedFrom?: number): void; stop(): void };
}

const encoder = new TextEncoder();

function write(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text));
}

/** Formats a byte count with binary units, e.g. `1.5 GiB` (pure). */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Formats seconds as `1m05s` (pure). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** A Ui on stderr; animations only when stderr is a terminal and not quiet. */
export function createUi(options: { quiet: boolean; verbose?: boolean }): Ui {
  const animate = !options.quiet && Deno.stderr.isTerminal();
  return {
    info(message) {
      if (!options.quiet) write(`${printable(message)}\n`);
    },
    warn(message) {
      write(`warning: ${printable(message)}\n`);
    },
    debug(message) {
      if (options.verbose && !options.quiet) write(`debug: ${printable(message)}\n`);
    },
    spinner(label) {
      if (!animate) return { update() {}, stop() {} };
      const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
      let text = printable(label);
      let i = 0;
      const started = Date.now();
      const draw = () =>
        write(
          `\r\x1b[2K${frames[i++ % frames.length]} ${text} (${
            formatDuration((Date.now() - started) / 1000)
          })`,
        );
      draw();
      const timer = setInterval(draw, 100);
      return {
        update(next) {
          text = printable(next);
        },
        stop() {
          clearInterval(timer);
          write("\r\x1b[2K");
        },
      };
    },
    progress(rawLabel) {
      if (!animate) return { report() {}, stop() {} };
      const label = printable(rawLabel);
      const started = Date.now();
      return {
        report(done, total, resumedFrom = 0) {
          const elapsed = (Date.now() - started) / 1000;
          // Bytes already on disk from an earlier attempt are not part of this transfer's speed.
          const speed = elapsed > 0 ? (done - resumedFrom) / elapsed : 0;
          if (total) {
            const width = 24;
            const filled = Math.round((done / total) * width);
            const eta = speed > 0 ? formatDuration((total - done) / speed) : "?";
            write(
              `\r\x1b[2K${label} [${"=".repeat(filled)}${" ".repeat(width - filled)}] ${
                formatBytes(done)
              } / ${formatBytes(total)}  ${formatBytes(speed)}/s  ETA ${eta}`,
            );
          } else {
            write(`\r\x1b[2K${label} ${formatBytes(done)}  ${formatBytes(speed)}/s`);
          }
        },
        stop() {
          write("\r\x1b[2K");
        },
      };
    },
  };
}
