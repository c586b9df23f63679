/**
 * X.509 issuance with node-forge: a self-signed CA and serving certificates it signs.
 * Keys come from node:crypto (RSA 2048, native). node-forge costs 8 MiB of RSS once
 * loaded (operator/bench/MEMORY.md) and a process never gives it back, so the operator
 * never imports this module: it issues through issuer.ts, a process that exits when
 * the issuance is done. (A static import: a copy run by jsEntry resolves it.)
 */
import { generateKeyPair, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import forge from "node-forge";
import { BACKDATE_MS } from "./issuer-process.ts";

const generateRsa = promisify(generateKeyPair);
const YEAR_MS = 365 * 24 * 3600_000;


/** A certificate and its private key, PEM. */
export interface Issued { cert: string; key: string }

/**
 * A serial in minimal DER: positive (high bit clear) and without a leading zero byte.
 * (It was "0" + 15 random bytes: when the first byte was 0x00, forge kept one zero
 * byte before a byte under 0x80, which OpenSSL refuses as "illegal padding", once in
 * ~512 certificates; seen in CI.)
 */
export function serialHex(random: Buffer): string {
  const bytes = Buffer.from(random);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString("hex");
}

async function keyPair(): Promise<{ publicKey: forge.pki.PublicKey; privateKey: forge.pki.rsa.PrivateKey; pem: string }> {
  const { privateKey } = await generateRsa("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
  const forgeKey = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), privateKey: forgeKey, pem: privateKey };
}

function baseCertificate(publicKey: forge.pki.PublicKey, validityMs: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialHex(randomBytes(16));
  const now = Date.now();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + validityMs);
  return cert;
}

/** A self-signed CA. */
export async function issueCa(validityMs = 5 * YEAR_MS): Promise<Issued> {
  const keys = await keyPair();
  const cert = baseCertificate(keys.publicKey, validityMs);
  const name = [{ name: "commonName", value: `chakrator-webhook-ca-${Date.now()}` }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.pem };
}

/** A serving certificate for `hosts` (names or IP addresses), signed by the CA. */
export async function issueServing(ca: Issued, hosts: string[], validityMs = YEAR_MS): Promise<Issued> {
  const keys = await keyPair();
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const cert = baseCertificate(keys.publicKey, Math.min(validityMs, caCert.validity.notAfter.getTime() - Date.now()));
  cert.setSubject([{ name: "commonName", value: hosts[0] ?? "chakrator-webhook" }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.key) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keys.pem };
}
