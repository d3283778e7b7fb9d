// The one interface through which a module below the runner says what it did:
// a warning the user sees, or a debug line for the task's log. A task's output
// is one; so is a test's recorder.
export interface Log {
  warn(message: string): void;
  debug(message: string): void;
}
