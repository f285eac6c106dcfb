/** The only module that imports npm:commander; commands use its classes through here. */
export { Command, CommanderError } from "commander";
