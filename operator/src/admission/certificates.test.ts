// The webhook's certificates: a chain TLS clients verify, and rotation under load with
// the real kube-apiserver calling the webhook: certificates that expire within seconds
// are renewed again and again, the CA too, and no request is refused meanwhile.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { createServer } from "node:https";
import { request } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { eventually, installTestCrd, kubeConfig, testCluster, testNamespace, type ControlPlaneInfo } from "../../testenv/index.ts";
import { KubeClient, KubeApiError, type KubeObject } from "../kube/client.ts";
import { runOperator, type RunningOperator } from "../lifecycle.ts";
import { LogBus } from "../telemetry/log.ts";
import { validity } from "./certificates.ts";
import { issueCa, issueServing, serialHex } from "./x509.ts";
import { configurationName } from "./index.ts";

function get(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, method: "GET" }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("webhook certificates", () => {
  it("a serving certificate the CA signed is trusted for its IP address and name, and only with that CA", async () => {
    const ca = await issueCa();
    const serving = await issueServing(ca, ["127.0.0.1", "localhost"]);
    const server = createServer({ cert: serving.cert, key: serving.key }, (_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      assert.equal(await get(`https://127.0.0.1:${port}/`, ca.cert), 200);
      assert.equal(await get(`https://localhost:${port}/`, ca.cert), 200);
      const other = await issueCa();
      await assert.rejects(get(`https://127.0.0.1:${port}/`, other.cert), /self.signed|unable to verify|certificate/i);
      const v = validity(serving.cert);
      assert.ok(v.notAfter > Date.now() + 300 * 24 * 3600_000, "a serving certificate lasts about a year");
    } finally {
      server.close();
    }
  });

  it("serials are minimal DER: positive, 16 bytes, no leading zero byte, also from random bytes that start with zeros", async () => {
    assert.equal(serialHex(Buffer.from("0005" + "ab".repeat(14), "hex")), "0105" + "ab".repeat(14));
    assert.equal(serialHex(Buffer.from("ff".repeat(16), "hex")), "7f" + "ff".repeat(15));
    const der = new X509Certificate((await issueCa()).cert).raw;
    // tbsCertificate: [0] version, then the serial INTEGER: tag 02, length 16, first byte 01..7f.
    const at = der.indexOf(Buffer.from("a003020102", "hex")) + 5;
    assert.deepEqual([der[at], der[at + 1]], [0x02, 16]);
    assert.ok(der[at + 2]! >= 1 && der[at + 2]! < 0x80);
  });

  it("the store's issuance runs in a child process: the chain verifies (one by one, and a first start's pair), node-forge never loads here, a failure says why", async () => {
    // A script that issues as the store does and records every module it loads.
    const script = `
      import { registerHooks } from "node:module";
      const seen = [];
      registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
      const { issueInChild, issueCaAndServingInChild } = await import(${JSON.stringify(new URL("./issuer-process.ts", import.meta.url).href)});
      const ca = await issueInChild({ t: "ca", validityMs: 86_400_000 });
      const serving = await issueInChild({ t: "serving", ca, hosts: ["127.0.0.1", "chakrator.example"], validityMs: 3_600_000 });
      const failure = await issueInChild({ t: "serving", ca: { cert: ca.cert, key: "not a key" }, hosts: ["x"], validityMs: 1 }).then(() => "none", (e) => e.message);
      // A first start's pair, from one process.
      const pair = await issueCaAndServingInChild({ caValidityMs: 86_400_000, hosts: ["127.0.0.1"], validityMs: 3_600_000 });
      console.log(JSON.stringify({ ca, serving, failure, pair, forge: seen.filter((s) => s.includes("node-forge")) }));
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("../../..", import.meta.url).pathname, encoding: "utf8" });
    const got = JSON.parse(out) as { ca: { cert: string }; serving: { cert: string; key: string }; failure: string; pair: { ca: { cert: string; key: string }; serving: { cert: string; key: string } }; forge: string[] };
    assert.deepEqual(got.forge, [], "node-forge was loaded in the operator's process");
    const caCert = new X509Certificate(got.ca.cert);
    const servingCert = new X509Certificate(got.serving.cert);
    assert.ok(servingCert.verify(caCert.publicKey), "the serving certificate is signed by the CA");
    assert.ok(servingCert.checkIP("127.0.0.1") && servingCert.checkHost("chakrator.example"));
    assert.ok(servingCert.checkPrivateKey(createPrivateKey(got.serving.key)));
    assert.match(got.failure, /^issuing a certificate failed: /);
    const pairCa = new X509Certificate(got.pair.ca.cert);
    const pairServing = new X509Certificate(got.pair.serving.cert);
    assert.ok(pairCa.ca, "the pair's CA is a CA");
    assert.ok(pairServing.verify(pairCa.publicKey), "the pair's serving certificate is signed by the pair's CA");
    assert.ok(!pairServing.verify(caCert.publicKey), "and not by the other CA");
    assert.ok(pairCa.checkPrivateKey(createPrivateKey(got.pair.ca.key)) && pairServing.checkPrivateKey(createPrivateKey(got.pair.serving.key)));
  });

  describe("rotation while the API server calls the webhook", () => {
    let info: ControlPlaneInfo;
    let client: KubeClient;
    let ns: string;
    let run: RunningOperator;
    const kind = { apiVersion: "test.chakrator.dev/v1", kind: "Rotated" };

    before(async () => {
      info = await testCluster();
      client = KubeClient.fromKubeConfig(kubeConfig(info));
      await installTestCrd(info, kind.kind);
      ns = await testNamespace(info, "rotation");
      await client.create({
        apiVersion: "v1", kind: "ConfigMap", metadata: { name: "rotated", namespace: ns, labels: { "chakrator.dev/reconciler": "true" } },
        data: { "reconciler.ts": `export default {
  for: { apiVersion: "${kind.apiVersion}", kind: "${kind.kind}" },
  reconcile() { return {}; },
  validate(o: { spec: { n: number } }) { return o.spec.n >= 0 ? { allowed: true as const } : { allowed: false as const, message: "n must be >= 0" }; },
};
` },
      });
      run = await runOperator({
        kubeConfig: kubeConfig(info), log: new LogBus({ stdout: false }), namespace: ns, listen: { host: "127.0.0.1", port: 0 }, auth: "off",
        handleSignals: false, workers: 1, sandbox: { poolSize: 1 },
        admission: {
          listen: { host: "127.0.0.1", port: 0 }, namespace: ns, instance: ns, refreshMs: 250,
          // Renewed at half-life: the serving certificate every ~2 s, the CA every ~5 s.
          certificates: { caValidityMs: 10_000, servingValidityMs: 4_000, renewFraction: 0.5, bundleGraceMs: 1_500 },
        },
      });
      await eventually(async () => {
        try {
          await client.create({ ...kind, metadata: { name: "probe", namespace: ns }, spec: { n: -1 } });
          await client.delete(kind.apiVersion, kind.kind, "probe", ns);
          return false;
        } catch (err: unknown) {
          return err instanceof KubeApiError && /n must be >= 0/.test(err.message);
        }
      }, 30_000, "the webhook in use");
    });

    after(async () => {
      await run?.shutdown();
      await client.delete("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", configurationName(`${ns}/rotated`)).catch(() => {});
      client?.close();
    });

    it("renews the serving certificate and the CA, the CA bundle follows, and no request is refused", async () => {
      const admission = run.admission!;
      const servingSerials = new Set([validity(admission.tls.cert).serial]);
      const caSerials = new Set([validity(admission.tls.caCert).serial]);
      const failures: string[] = [];
      let created = 0;
      while (caSerials.size < 2 || servingSerials.size < 4) {
        // Each create goes through the webhook; a refused TLS handshake would fail it.
        try {
          await client.create({ ...kind, metadata: { name: `obj-${created}`, namespace: ns }, spec: { n: created } });
        } catch (err: unknown) {
          failures.push(err instanceof Error ? err.message : String(err));
        }
        created++;
        servingSerials.add(validity(admission.tls.cert).serial);
        caSerials.add(validity(admission.tls.caCert).serial);
        assert.ok(created < 5000, "rotation happened");
      }
      assert.deepEqual(failures, []);
      assert.ok(created > 10);
      const config = (await client.get("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", configurationName(`${ns}/rotated`))) as unknown as KubeObject & { webhooks: Array<{ clientConfig: { caBundle: string } }> };
      const bundle = await eventually(async () => {
        const now = (await client.get("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", configurationName(`${ns}/rotated`))) as unknown as typeof config;
        const text = Buffer.from(now.webhooks[0]!.clientConfig.caBundle, "base64").toString("utf8");
        return text.includes(admission.tls.caCert.trim()) && text;
      }, 10_000, "the CA bundle in the configuration holds the current CA");
      assert.ok(bundle.includes("BEGIN CERTIFICATE"));
      // The Secret all replicas read holds the same certificate this replica serves.
      const secret = (await client.get("v1", "Secret", "chakrator-webhook-tls", ns)) as KubeObject & { data: Record<string, string> };
      assert.equal(validity(Buffer.from(secret.data["tls.crt"]!, "base64").toString("utf8")).serial, validity(admission.tls.cert).serial);
    });
  });
});
