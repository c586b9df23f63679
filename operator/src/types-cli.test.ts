/**
 * `chakrator types` against the real API server: its output (contract, kind typings,
 * tsconfig.json) type-checks every sample with a plain `tsc`, as a local editor would,
 * and the same `tsc` refuses a misspelt Deployment field.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { eventually, installCrds, kubeConfig, testCluster } from "../testenv/index.ts";
import { KubeClient } from "./kube/client.ts";
import { OpenApiReader } from "./kube/openapi.ts";
import { parseTypesArgs, runTypes } from "./types-cli.ts";

const repo = join(import.meta.dirname, "..", "..");
const tsc = join(repo, "node_modules", "typescript", "bin", "tsc");
const samples = readdirSync(join(repo, "samples")).filter((d) => /^\d\d-/.test(d));

describe("chakrator types", () => {
  let work: string;
  const saved = process.env["KUBECONFIG"];
  before(async () => {
    const info = await testCluster();
    await installCrds(info);
    for (const s of samples) {
      const crd = join(repo, "samples", s, "crd.yaml");
      if (existsSync(crd)) spawnSync("kubectl", ["--kubeconfig", info.kubeconfig, "apply", "-f", crd], { encoding: "utf8" });
    }
    process.env["KUBECONFIG"] = info.kubeconfig;
    // A CRD reaches /openapi/v3 a moment after it is Established.
    const client = KubeClient.fromKubeConfig(kubeConfig(info));
    const reader = new OpenApiReader(client, { ttlMs: 0, minRefreshMs: 0 });
    const groups = new Set(samples.flatMap((s) => [...readFileSync(join(repo, "samples", s, "reconciler.ts"), "utf8").matchAll(/apiVersion: "([^"]+)"/g)].map((m) => m[1]!)));
    await eventually(async () => {
      for (const g of groups) if ((await reader.document(g))?.doc.components?.schemas === undefined) return false;
      return true;
    }, 30_000, `${[...groups].join(", ")} in /openapi/v3`);
    client.close();
    work = mkdtempSync(join(tmpdir(), "chakrator-types-"));
  });
  after(() => {
    if (saved === undefined) delete process.env["KUBECONFIG"];
    else process.env["KUBECONFIG"] = saved;
    rmSync(work, { recursive: true, force: true });
  });

  it("runs as `chakrator types` from the command line, and exits 2 on a usage error", () => {
    const dir = join(work, "cli");
    const r = spawnSync(process.execPath, [join(repo, "operator", "src", "cli.ts"), "types", "--out", dir, "--api-versions", "v1,apps/v1"], { encoding: "utf8", env: { ...process.env } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 group-versions: v1, apps\/v1/);
    assert.ok(existsSync(join(dir, ".chakrator", "kinds", "apps", "v1.d.ts")));
    const bad = spawnSync(process.execPath, [join(repo, "operator", "src", "cli.ts"), "types", "--bogus"], { encoding: "utf8" });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown argument --bogus for types/);
  });

  it("parses its arguments", () => {
    assert.deepEqual(parseTypesArgs([]), { out: ".", apiVersions: undefined });
    assert.deepEqual(parseTypesArgs(["--out", "x", "--api-versions", "v1, apps/v1"]), { out: "x", apiVersions: ["v1", "apps/v1"] });
    assert.throws(() => parseTypesArgs(["--out"]), /--out needs a value/);
    assert.throws(() => parseTypesArgs(["--bogus"]), /unknown argument --bogus/);
  });

  for (const sample of samples) {
    it(`its output type-checks samples/${sample} with tsc`, async () => {
      const dir = join(work, sample);
      cpSync(join(repo, "samples", sample), dir, { recursive: true });
      const out: string[] = [];
      const code = await runTypes({ out: dir, apiVersions: undefined }, { out: (t) => out.push(t), err: (t) => out.push(t) });
      assert.equal(code, 0, out.join(""));
      assert.match(out.join(""), /wrote .*tsconfig\.json .*group-versions: /);
      for (const f of [".chakrator/chakrator.d.ts", ".chakrator/kinds/apps/v1.d.ts", ".chakrator/kinds/v1.d.ts", ".chakrator/kinds/example.com/v1.d.ts", "tsconfig.json"]) assert.ok(existsSync(join(dir, f)), f);
      assert.match(readFileSync(join(dir, ".chakrator/kinds-in-use.d.ts"), "utf8"), /for: import\("chakrator\/example\.com\/v1"\)\./);
      const r = spawnSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stdout + r.stderr);
    });
  }

  it("the same tsc refuses a misspelt Deployment field and a wrong enum value", () => {
    const dir = join(work, "02-static-website");
    const text = readFileSync(join(dir, "reconciler.ts"), "utf8");
    assert.match(text, /containers: \[/);
    writeFileSync(join(dir, "reconciler.ts"), text.replace("containers: [", "contaners: ["));
    let r = spawnSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /reconciler\.ts\(\d+,\d+\): error TS2322:[\s\S]*The types of 'spec\.template\.spec' are incompatible[\s\S]*Property 'containers' is missing/);
    writeFileSync(join(dir, "reconciler.ts"), text.replace(/image: ([^,\n]+),/, 'image: $1, imagePullPolicy: "Sometimes",'));
    r = spawnSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
    assert.notEqual(r.status, 0);
    assert.match(r.stdout, /"Sometimes"/);
  });
});
