// The log stream on the real control plane: replay, live records and notices, the
// Origin check before the upgrade, a slow client that is told what it missed while a
// second client keeps up, filter changes, and RBAC scoping for a granted user.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually } from "../../testenv/index.ts";
import type { LogRecord, StreamMessage } from "./protocol.ts";
import { call, openStream, refusedStatus, startFixture, type Fixture } from "./test-fixture.ts";

const logs = (messages: StreamMessage[]): LogRecord[] => messages.flatMap((m) => (m.type === "log" ? [m.record] : []));

describe("log stream", () => {
  let f: Fixture;
  let cookie: string;

  before(async () => {
    f = await startFixture("logstream", { auth: "token", logStream: { capacity: 200, highWaterBytes: 16 * 1024, heartbeatMs: 60_000 } });
    const res = await call(f.url, "POST", "/api/session", { body: { token: f.info.adminToken } });
    cookie = (res.headers.getSetCookie()[0] ?? "").split(";")[0]!;
  });
  after(async () => {
    await f?.stop();
  });

  it("replays recent records, then delivers live records and notices", async () => {
    for (let i = 0; i < 5; i++) f.bus.info(`replay-me ${i}`);
    const { ws, messages } = await openStream(f.url, "?text=replay-me&replay=3", { cookie });
    try {
      await eventually(() => messages.length >= 4, 5_000, "hello + replay");
      assert.deepEqual(messages[0], { type: "hello", replayed: 3, auth: "token" });
      assert.deepEqual(logs(messages).map((r) => r.message), ["replay-me 2", "replay-me 3", "replay-me 4"]);
      f.bus.info("replay-me live", { n: 1 });
      f.bus.info("something else");
      await eventually(() => logs(messages).some((r) => r.message === "replay-me live"), 5_000, "live record");
      assert.ok(!logs(messages).some((r) => r.message === "something else"), "the filter applies to live records");
      // A notice: someone edits the reconciler (as kubectl would).
      const cm = (await f.admin.get("v1", "ConfigMap", "reconciler", f.ns))!;
      const edited = await f.admin.replace({ ...cm, data: { ...(cm["data"] as Record<string, string>), "notes.txt": "hi" } });
      await eventually(() => messages.some((m) => m.type === "notice" && m.notice.type === "source-changed" && m.notice.resourceVersion === edited.metadata.resourceVersion), 10_000, "source-changed notice");
    } finally {
      ws.close();
    }
  });

  it("changes the filter on a client message and ignores invalid messages", async () => {
    const { ws, messages } = await openStream(f.url, "?text=first-filter&replay=0", { cookie });
    try {
      await eventually(() => messages.length >= 1, 5_000, "hello");
      ws.send("not json");
      ws.send(JSON.stringify({ type: "filter", filter: { text: "second-filter" } }));
      await sleep(100);
      f.bus.info("first-filter record");
      f.bus.info("second-filter record");
      await eventually(() => logs(messages).some((r) => r.message === "second-filter record"), 5_000, "record of the new filter");
      assert.ok(!logs(messages).some((r) => r.message === "first-filter record"));
      assert.equal(ws.readyState, ws.OPEN, "one invalid message does not close the socket");
    } finally {
      ws.close();
    }
  });

  it("refuses a cross-origin upgrade (403) before accepting it, and accepts its own origin", async () => {
    assert.equal(await refusedStatus(f.url, "", { cookie, origin: "https://evil.example" }), 403);
    const { ws } = await openStream(f.url, "?replay=0", { cookie, origin: f.url });
    ws.close();
  });

  it("tells a slow client how many records it lost, while a second client keeps receiving", async () => {
    const slow = await openStream(f.url, "?text=flood&replay=0", { cookie });
    const fast = await openStream(f.url, "?text=flood&replay=0", { cookie });
    try {
      await eventually(() => slow.messages.length >= 1 && fast.messages.length >= 1, 5_000, "hello");
      slow.ws.pause(); // stop reading: the server's socket buffer fills up
      const payload = "x".repeat(8 * 1024);
      for (let batch = 0; batch < 40; batch++) {
        for (let i = 0; i < 50; i++) f.bus.info(`flood ${batch * 50 + i}`, { payload });
        await sleep(5);
      }
      f.bus.info("flood marker");
      await eventually(() => logs(fast.messages).some((r) => r.message === "flood marker"), 15_000, "the fast client gets everything");
      assert.equal(logs(fast.messages).length, 2001, "the fast client lost nothing");
      assert.ok(!fast.messages.some((m) => m.type === "dropped"));
      slow.ws.resume();
      await eventually(() => logs(slow.messages).some((r) => r.message === "flood marker"), 15_000, "the slow client catches up");
      const dropped = slow.messages.filter((m) => m.type === "dropped").reduce((n, m) => n + (m.type === "dropped" ? m.count : 0), 0);
      assert.ok(dropped > 0, "a dropped message was sent");
      assert.equal(logs(slow.messages).length + dropped, 2001, "every record is either delivered or counted as dropped");
      const seqs = logs(slow.messages).map((r) => r.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in order");
    } finally {
      slow.ws.close();
      fast.ws.close();
    }
  });

  it("admits a user granted read access in the namespace, showing only that namespace's reconciler records", async () => {
    const review = await f.admin.request<{ status: { user: { username: string } } }>("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token: f.info.userToken } },
    });
    // A Role of our own: the aggregated ClusterRoles (edit, view) stay empty without a controller manager.
    await f.admin.create({
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role",
      metadata: { name: "reconciler-editor", namespace: f.ns },
      rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch", "update"] }],
    });
    await f.admin.create({
      apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
      metadata: { name: "editor-user", namespace: f.ns },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reconciler-editor" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: review.status.user.username }],
    });
    const user = { token: f.info.userToken };
    // The grant reaches the user: REST reads now work with their own identity.
    await eventually(async () => (await call(f.url, "GET", `/api/reconcilers/${f.ns}/reconciler`, user)).status === 200, 10_000, "RBAC grant");
    const list = await call(f.url, "GET", "/api/reconcilers", user);
    assert.deepEqual(list.body.items.find((i: { name: string }) => i.name === "reconciler")?.permissions, { update: true, create: false });
    const { ws, messages } = await openStream(f.url, "?text=scoped&replay=0", user);
    try {
      f.bus.log("info", "scoped own", { reconciler: `${f.ns}/reconciler` });
      f.bus.log("info", "scoped elsewhere", { reconciler: "kube-system/other" });
      f.bus.info("scoped operator-wide");
      await eventually(() => logs(messages).some((r) => r.message === "scoped operator-wide"), 5_000, "records");
      await sleep(200);
      const seen = logs(messages).map((r) => r.message);
      assert.ok(seen.includes("scoped own"), seen.join(","));
      assert.ok(!seen.includes("scoped elsewhere"), "records of a namespace the user may not read are not sent");
    } finally {
      ws.close();
    }
  });

  it("closes streams when the server closes", async () => {
    const { ws } = await openStream(f.url, "?replay=0", { cookie });
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    await f.stop();
    assert.equal(await closed, 1001);
    f = undefined as unknown as Fixture;
  });
});
