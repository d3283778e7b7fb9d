// config.github checked for what commit statuses need. config.ts reads the
// variables (and already splits `owner/repo`, and turns `|` into newlines in
// the key); here a missing or unusable one becomes one line naming it.
import type { GithubConfig } from "../config";
import { checkPrivateKey } from "./key";

export interface GithubSettings {
  apiUrl: string;
  appId: string;
  installationId: string;
  privateKeyPkcs8: string;
  owner: string;
  repo: string;
  tokenRefreshThresholdSeconds: number;
}

export type SettingsCheck = { kind: "ok"; settings: GithubSettings } | { kind: "invalid"; problem: string };

// GitHub's rules for owner and repository names, loosely: what may go in a URL path unescaped.
const NAME = /^[A-Za-z0-9_.-]+$/;

export function checkSettings(github: GithubConfig): SettingsCheck {
  const missing: string[] = [];
  if (!github.appId) missing.push("GITHUB_APP_ID");
  if (!github.installationId) missing.push("GITHUB_INSTALLATION_ID");
  if (!github.privateKey) missing.push("GITHUB_APP_PRIVATE_KEY");
  if (!github.repo) missing.push("GITHUB_REPOSITORY");
  else if (!github.owner) missing.push("GITHUB_REPOSITORY_OWNER (or GITHUB_REPOSITORY=owner/repo)");
  if (missing.length) {
    return { kind: "invalid", problem: `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not set` };
  }
  const { appId, installationId, privateKey, owner, repo } = github as Required<{
    [K in keyof GithubConfig]: NonNullable<GithubConfig[K]>;
  }>;
  // App IDs are numbers; GitHub also takes the app's client ID (Iv1.…) as the JWT issuer.
  if (!/^[A-Za-z0-9._-]+$/.test(appId))
    return { kind: "invalid", problem: `GITHUB_APP_ID=${JSON.stringify(appId)} is not an app ID` };
  if (!/^\d+$/.test(installationId)) {
    return { kind: "invalid", problem: `GITHUB_INSTALLATION_ID=${JSON.stringify(installationId)} is not a number` };
  }
  if (!NAME.test(owner))
    return { kind: "invalid", problem: `GITHUB_REPOSITORY_OWNER=${JSON.stringify(owner)} is not a valid owner name` };
  if (!NAME.test(repo))
    return { kind: "invalid", problem: `GITHUB_REPOSITORY=${JSON.stringify(repo)} is not a valid repository name` };
  const key = checkPrivateKey(privateKey);
  if (key.kind === "invalid") return { kind: "invalid", problem: key.problem };
  return {
    kind: "ok",
    settings: {
      apiUrl: github.apiUrl.replace(/\/+$/, ""),
      appId,
      installationId,
      privateKeyPkcs8: key.pkcs8,
      owner,
      repo,
      tokenRefreshThresholdSeconds: github.tokenRefreshThresholdSeconds,
    },
  };
}
