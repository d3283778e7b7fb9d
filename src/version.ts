// Filled in by build.ts (`--define`); running from source says "dev".
declare const TASKRUNNER_BUILD_VERSION: string | undefined;

export const VERSION: string = typeof TASKRUNNER_BUILD_VERSION === "string" ? TASKRUNNER_BUILD_VERSION : "0.0.0-dev";
