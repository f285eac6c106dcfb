/** Cubic's version, printed by `cubic --version`. */
export const VERSION = "0.1.0";
