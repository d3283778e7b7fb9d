// The GitHub App's private key, which signs the JWT (RS256) that buys
// installation tokens. Signing is @octokit/auth-app's; the key is checked and
// normalised here first so a bad GITHUB_APP_PRIVATE_KEY is reported when the
// client is opened, in our words, rather than as a WebCrypto error at the first status.
import { createPrivateKey } from "node:crypto";
import { describeError } from "../sys/errors";

export type KeyCheck = { kind: "ok"; pkcs8: string } | { kind: "invalid"; problem: string };

/**
 * GitHub hands out PKCS#1 keys ("BEGIN RSA PRIVATE KEY"); the signer underneath
 * auth-app uses WebCrypto, which takes only PKCS#8, so convert here with
 * node:crypto (which also proves the key parses). config.ts already turned `|`
 * into newlines; literal `\n` pairs (a common .env spelling) are accepted too.
 */
export function checkPrivateKey(raw: string): KeyCheck {
  const pem = raw.includes("-----BEGIN") && !raw.includes("\n") ? raw.replaceAll("\\n", "\n") : raw;
  if (!pem.includes("-----BEGIN")) {
    return { kind: "invalid", problem: "GITHUB_APP_PRIVATE_KEY is not a PEM private key (no -----BEGIN line)" };
  }
  try {
    const key = createPrivateKey({ key: pem.trim(), format: "pem" });
    if (key.asymmetricKeyType !== "rsa") {
      return {
        kind: "invalid",
        problem: `GITHUB_APP_PRIVATE_KEY is not an RSA key (it is ${key.asymmetricKeyType}); GitHub Apps sign with RSA`,
      };
    }
    return { kind: "ok", pkcs8: key.export({ type: "pkcs8", format: "pem" }).toString() };
  } catch (e) {
    // OpenSSL's reason ("DECODER routines::unsupported"), never the key itself.
    return { kind: "invalid", problem: `GITHUB_APP_PRIVATE_KEY is not a valid PEM private key (${describeError(e)})` };
  }
}
