// Loads src/remote.ts on first use. The specifier is a variable so that the
// bundler leaves the import alone: build.ts compiles remote.ts as a separate
// entry point of the same binary, resolved at run time (and from source, the
// plain file).
type Remote = typeof import("./remote");

let remote: Promise<Remote> | null = null;
const REMOTE = "./remote.ts";

export function loadRemote(): Promise<Remote> {
  remote ??= import(REMOTE) as Promise<Remote>;
  return remote;
}
